"""Layers that only change shape: Flatten and Reshape. Their backward pass undoes the reshape.

**Memory layout.** A convolution's output is channels-last in memory (an NCHW view of an
`(N, H, W, C)` array; see `npgan.nn.im2col`), and so is everything elementwise computed from
it. The gradient arriving at Flatten's backward pass is an ordinary `(N, C*H*W)` array;
reshaped, it would be NCHW in memory, and every elementwise operation that then mixes it with
the cached channels-last activations (LeakyReLU, BatchNorm) would walk one of them against its
strides. So the backward pass writes the gradient into an array with the *input's* memory
layout: one copy here instead of slow passes below.
"""

from __future__ import annotations

from .. import backend as B
from .module import Layer


def _layout(x):
    """x's axes from the largest stride to the smallest, or None when x is C-contiguous."""
    if x.flags.c_contiguous:
        return None
    return tuple(sorted(range(x.ndim), key=lambda i: -x.strides[i]))


def _reshape_like(grad, shape, layout):
    """`grad` reshaped to `shape`, stored in memory with the axis order `layout`."""
    g = grad.reshape(shape)
    if layout is None:
        return g
    out = B.get_backend().empty(tuple(shape[i] for i in layout), dtype=grad.dtype)
    inverse = tuple(layout.index(i) for i in range(len(layout)))
    out = out.transpose(inverse)
    out[...] = g
    return out


class Flatten(Layer):
    r"""Flatten each sample: `(N, d1, d2, ...)` to `(N, d1*d2*...)`.

    The flattening order is row-major over `(d1, d2, ...)`, i.e. `(C, H, W)` for images, as
    in PyTorch.

    **Forward.** $y = R(x)$, where the reshape $R$ moves every entry to one new place and
    changes no value: $y_{\pi(k)} = x_k$, with $\pi$ a one-to-one map from x's indices onto
    y's (the row-major order).

    **Backward.** $R$ is linear, and $\partial y_{\pi(k)} / \partial x_{k'} = [k = k']$, so the
    chain rule's sum over y's entries keeps the one that $x_k$ went to:
    $\bar x_k = \bar y_{\pi(k)}$, i.e. $\bar x = R^{-1}(\bar y)$. In adjoint form, for any
    $\Phi$ of y's shape,

    $$
    \langle R x, \Phi \rangle = \sum_k x_k\, \Phi_{\pi(k)} = \langle x, R^{-1} \Phi \rangle,
    \qquad\text{so}\qquad R^\top = R^{-1}:
    $$

    a reshape's adjoint is the inverse reshape. $\bar x$ is written in x's memory layout
    (see the module docstring).

    **Double backward.** $\bar x = R^{-1} \bar y$ is linear in $\bar y$ and does not involve
    $x$, so $\tilde{\bar y} = (R^{-1})^\top \tilde{\bar x} = R(\tilde{\bar x})$ (the forward
    reshape) and $\tilde x = 0$.

    Cache: x's shape and memory layout.
    """

    def _forward(self, x, training):
        if x.ndim < 2:
            raise ValueError(f"{self!r}: expected an input with a batch axis and at least one "
                             f"more, received shape {tuple(x.shape)}")
        return x.reshape(x.shape[0], -1), (x.shape, _layout(x))

    def _backward(self, grad_out, cache):
        shape, layout = cache
        return _reshape_like(grad_out, shape, layout)

    def _double_backward(self, ggx, grad_out, cache):
        r"""$\tilde{\bar y} = R(\tilde{\bar x})$, `ggx` reshaped to `(N, -1)` (the forward map); $\tilde x = 0$ (`None`)."""
        return ggx.reshape(ggx.shape[0], -1), None


class Reshape(Layer):
    r"""Reshape each sample: `(N, ...)` to `(N, *shape)`, e.g. `Reshape((128, 7, 7))` after a generator's Dense layer.

    **Forward.** $y = R(x)$, a row-major reshape of each sample to `shape`.

    **Backward.** As for `Flatten`: a reshape only moves entries, its adjoint is the inverse
    reshape, $\bar x = R^{-1}(\bar y)$, written in x's memory layout.

    **Double backward.** $\tilde{\bar y} = R(\tilde{\bar x})$ (the forward reshape) and
    $\tilde x = 0$.

    Cache: x's shape and memory layout.
    """

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    @classmethod
    def example(cls):
        return cls((2, 3)), (4, 6)

    def _forward(self, x, training):
        want = 1
        for s in self.shape:
            want *= s
        if x.ndim < 1 or x.size != x.shape[0] * want:
            raise ValueError(f"{self!r}: expected (N, ...) with {want} values per sample, "
                             f"received shape {tuple(x.shape)}")
        return x.reshape((x.shape[0],) + self.shape), (x.shape, _layout(x))

    def _backward(self, grad_out, cache):
        shape, layout = cache
        return _reshape_like(grad_out, shape, layout)

    def _double_backward(self, ggx, grad_out, cache):
        r"""$\tilde{\bar y} = R(\tilde{\bar x})$, `ggx` reshaped to `(N, *shape)` (the forward map); $\tilde x = 0$ (`None`)."""
        return ggx.reshape((ggx.shape[0],) + self.shape), None

    def __repr__(self) -> str:
        return f"Reshape({self.shape})"
