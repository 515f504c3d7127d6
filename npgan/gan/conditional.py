r"""Class-conditional generation: labels enter G and D as one-hot vectors concatenated to their input.

For K classes and labels y (N,), ``one_hot(y, K)`` is Y (N, K) with Y[n, y_n] = 1. The
generator sees [z, Y] (N, latent + K) instead of z; the discriminator sees its input with
the labels appended (``with_labels``): for vectors x (N, F), [x, Y] (N, F + K); for images
x (N, C, H, W), K more channels, channel C + k constant 1 where k = y_n (Mirza & Osindero
2014; the DCGAN-style "concatenated channels" conditioning). Concatenation is linear, so
its backward pass is the adjoint, a slice (``without_labels``)::

    forward:   u = [x, E(y)]            backward:  dL/dx = (dL/du)[:, :C]

and the labels, being data, get no gradient. A conditional GAN learns p(x | y): D judges
whether x is a real sample *of class y*, so G must make each class look like itself.
"""

from __future__ import annotations

from .. import backend as B


def one_hot(labels, num_classes: int):
    """(N,) integer labels in [0, K) -> (N, K) one-hot rows, in the current backend and dtype."""
    y = B.to_numpy(labels).astype(B.host.int64)
    if y.ndim != 1 or (y.size and (y.min() < 0 or y.max() >= num_classes)):
        raise ValueError(f"labels must be a 1-D array of integers in [0, {num_classes}), got "
                         f"shape {y.shape}" + (f", values {y.min()}..{y.max()}" if y.size else ""))
    out = B.host.zeros((y.size, num_classes))
    out[B.host.arange(y.size), y] = 1.0
    return B.asarray(out)


def with_labels(x, labels, num_classes: int):
    """x with the one-hot labels appended: (N, F) -> (N, F + K); (N, C, H, W) -> (N, C + K, H, W)."""
    xp = B.get_backend()
    y = one_hot(labels, num_classes).astype(x.dtype)
    if x.ndim == 2:
        return xp.concatenate([x, y], axis=1)
    maps = xp.broadcast_to(y[:, :, None, None], (x.shape[0], num_classes) + tuple(x.shape[2:]))
    return xp.concatenate([x, maps], axis=1)


def without_labels(grad, channels: int):
    """The backward pass of ``with_labels``: dL/dx, the first ``channels`` features or channels."""
    return grad[:, :channels]


def balanced_labels(n: int, num_classes: int):
    """0, 1, ..., K-1, 0, 1, ... (n,): every class its share (the default for sampling)."""
    return B.host.arange(n) % num_classes
