"""Dense (fully connected) layer."""

from __future__ import annotations

from .im2col import integer
from .init import init_weight_bias
from .module import Layer, Parameter


class Dense(Layer):
    r"""Affine map ``y = x @ W + b``.

    Shapes: x (N, D_in), W (D_in, D_out), b (D_out,), y (N, D_out).
    (W is stored (in, out) so the forward pass reads like the math; PyTorch's
    ``nn.Linear`` stores the transpose.)

    Forward::

        y[n, j] = sum_i x[n, i] W[i, j] + b[j]

    Backward, given G = dL/dy of shape (N, D_out)::

        dL/dx = G @ W.T            (N, D_in)
        dL/dW = x.T @ G            (D_in, D_out)   accumulated into W.grad
        dL/db = sum_n G[n, :]      (D_out,)        accumulated into b.grad

    Cache: x (needed for dL/dW).

    Double backward (a gradient penalty P of dx; ``ggx`` = dP/d(dx), (N, D_in)). dx = G W^T
    is bilinear in (G, W) and does not depend on x, so::

        dP/dG = ggx @ W            (N, D_out)     (the forward map, without b)
        dP/dW = ggx.T @ G          (D_in, D_out)  accumulated into W.grad
        dP/dx = 0

    ``init`` picks the initialiser (see ``npgan.nn.init``); default PyTorch's.
    """

    def __init__(self, in_features: int, out_features: int, init: str = "pytorch"):
        super().__init__()
        in_features, out_features = integer(in_features, "Dense: in_features"), integer(out_features, "Dense: out_features")
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Dense: features must be positive, got {in_features}, {out_features}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        w, b = init_weight_bias(init, (in_features, out_features), (out_features,),
                                fan_in=in_features, fan_out=out_features)
        self.weight = Parameter(w, "weight")
        self.bias = Parameter(b, "bias")

    def forward(self, x, training=None):
        self._check_input(x, ndim=2, features=self.in_features)
        self._cache = x
        return x @ self.weight.data + self.bias.data

    def backward(self, grad_out):
        x = self._cached()
        self._check_grad(grad_out, (x.shape[0], self.out_features))
        if self.requires_grad:
            self.weight.grad += x.T @ grad_out
            self.bias.grad += grad_out.sum(axis=0)
        if not self.input_grad:
            return None
        return grad_out @ self.weight.data.T

    def double_backward(self, ggx, grad_out):
        x = self._forward_cache()
        self._check_second(ggx, grad_out, x.shape, (x.shape[0], self.out_features))
        if self.requires_grad:
            self.weight.grad += ggx.T @ grad_out
        return ggx @ self.weight.data, None

    def __repr__(self) -> str:
        return f"Dense({self.in_features}->{self.out_features})"
