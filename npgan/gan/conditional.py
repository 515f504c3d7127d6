r"""Class-conditional generation: labels enter G and D as one-hot vectors concatenated to their input.

**One-hot labels.** For $K$ classes and labels $y_n \in \{0, \dots, K-1\}$, $n = 1, \dots, N$,
`one_hot(y, K)` is the $(N, K)$ matrix $Y$ with

$$
Y_{nk} = [k = y_n] \qquad (1 \text{ where } k = y_n, \text{ else } 0).
$$

**Forward: concatenation.** The generator sees $[z_n, Y_n]$, $(N, \text{latent} + K)$, instead of
$z_n$. The discriminator sees its input with the labels appended (`with_labels`): for vectors
$x$ of $(N, F)$, $u_n = [x_n, Y_n]$ of $(N, F + K)$; for images $x$ of $(N, C, H, W)$, $K$ more
channels, channel $C + k$ constant 1 where $k = y_n$ (Mirza & Osindero 2014; the
DCGAN-style "concatenated channels" conditioning):

$$
u_{nchw} = \begin{cases} x_{nchw} & c < C, \\ [c - C = y_n] & C \le c < C + K. \end{cases}
$$

**Backward: a slice.** Concatenation is linear in $x$ and copies each $x_{nchw}$ to exactly
one place, $u_{nchw}$, so by the chain rule

$$
\bar x_{nchw} = \sum_{n'c'h'w'} \bar u_{n'c'h'w'}\, \frac{\partial u_{n'c'h'w'}}{\partial x_{nchw}} = \bar u_{nchw},
\qquad c < C:
$$

the adjoint is the first $C$ channels (or $F$ features) of $\bar u$ (`without_labels`).
The labels, being data, get no gradient.

A conditional GAN learns $p(x \mid y)$: D judges whether $x$ is a real sample *of class $y$*,
so G must make each class look like itself.
"""

from __future__ import annotations

from .. import backend as B


def one_hot(labels, num_classes: int):
    r"""$(N,)$ integer labels in $[0, K)$ $\to$ $(N, K)$ one-hot rows, in the current backend and dtype.

    Other labels, or labels that are not 1-D, are refused with a `ValueError`."""
    y = B.to_numpy(labels).astype(B.host.int64)
    if y.ndim != 1 or (y.size and (y.min() < 0 or y.max() >= num_classes)):
        raise ValueError(f"labels must be a 1-D array of integers in [0, {num_classes}), got "
                         f"shape {y.shape}" + (f", values {y.min()}..{y.max()}" if y.size else ""))
    out = B.host.zeros((y.size, num_classes))
    out[B.host.arange(y.size), y] = 1.0
    return B.asarray(out)


def with_labels(x, labels, num_classes: int):
    r"""`x` with the one-hot labels appended: $(N, F) \to (N, F + K)$; $(N, C, H, W) \to (N, C + K, H, W)$."""
    xp = B.get_backend()
    y = one_hot(labels, num_classes).astype(x.dtype)
    if x.ndim == 2:
        return xp.concatenate([x, y], axis=1)
    maps = xp.broadcast_to(y[:, :, None, None], (x.shape[0], num_classes) + tuple(x.shape[2:]))
    return xp.concatenate([x, maps], axis=1)


def without_labels(grad, channels: int):
    r"""The backward pass of `with_labels`: $\bar x$, the first `channels` features or channels of $\bar u$."""
    return grad[:, :channels]


def balanced_labels(n: int, num_classes: int):
    r"""$0, 1, \dots, K-1, 0, 1, \dots$, of shape $(n,)$: every class its share (the default for sampling)."""
    return B.host.arange(n) % num_classes
