"""Layers that only change shape: Flatten and Reshape. Their backward pass undoes the reshape."""

from __future__ import annotations

from .module import Layer


class Flatten(Layer):
    r"""(N, d1, d2, ...) -> (N, d1*d2*...).

    Forward: y = reshape(x, (N, -1)).  Backward: dL/dx = reshape(dL/dy, x.shape).
    Cache: x's shape.
    """

    def forward(self, x, training: bool = True):
        self._check_input(x)
        if x.ndim < 2:
            raise ValueError(f"{self!r}: expected an input with a batch axis and at least one "
                             f"more, received shape {tuple(x.shape)}")
        self._cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad_out):
        shape = self._cached()
        per_sample = 1
        for s in shape[1:]:
            per_sample *= s
        self._check_grad(grad_out, (shape[0], per_sample))
        return grad_out.reshape(shape)


class Reshape(Layer):
    r"""(N, ...) -> (N, *shape), e.g. Reshape((128, 7, 7)) after a generator's Dense layer.

    Forward: y = reshape(x, (N,) + shape).  Backward: dL/dx = reshape(dL/dy, x.shape).
    Cache: x's shape.
    """

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x, training: bool = True):
        self._check_input(x)
        want = 1
        for s in self.shape:
            want *= s
        if x.ndim < 1 or x.size != x.shape[0] * want:
            raise ValueError(f"{self!r}: expected (N, ...) with {want} values per sample, "
                             f"received shape {tuple(x.shape)}")
        self._cache = x.shape
        return x.reshape((x.shape[0],) + self.shape)

    def backward(self, grad_out):
        shape = self._cached()
        self._check_grad(grad_out, (shape[0],) + self.shape)
        return grad_out.reshape(shape)

    def __repr__(self) -> str:
        return f"Reshape({self.shape})"
