"""Inverted dropout (Srivastava et al. 2014)."""

from __future__ import annotations

from .. import backend as B
from .module import Layer


class Dropout(Layer):
    r"""Zero each element with probability p in training; the identity in eval.

    "Inverted" dropout scales the kept elements by 1/(1-p) during training so
    that E[y] = x and nothing needs rescaling at test time.

    Forward, training:  M ~ Bernoulli(1 - p) elementwise,  y = x * M / (1 - p)
    Forward, eval:      y = x
    Backward:           dL/dx = dL/dy * M / (1 - p)   (training),  dL/dy (eval)

    Cache: the scaled mask M / (1 - p) (None in eval). Shapes: any, y like x.
    The mask comes from npgan's seeded generator (``backend.seed``).
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if isinstance(p, bool) or not 0.0 <= p <= 1.0:  # NaN fails both comparisons
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = float(p)

    def forward(self, x, training=None):
        self._check_input(x)
        if not self._mode(training) or self.p == 0.0:
            self._cache = ("identity", x.shape)
            return x
        scale = 0.0 if self.p == 1.0 else 1.0 / (1.0 - self.p)
        mask = B.bernoulli(x.shape, 1.0 - self.p, dtype=x.dtype) * scale
        self._cache = ("mask", mask)
        return x * mask

    def backward(self, grad_out):
        kind, value = self._cached()
        shape = value if kind == "identity" else value.shape
        self._check_grad(grad_out, shape)
        if not self.input_grad:
            return None
        return grad_out if kind == "identity" else grad_out * value

    def double_backward(self, ggx, grad_out):
        """dP/dG = ggx * M / (1 - p) (the same diagonal map); dP/dx = 0."""
        kind, value = self._forward_cache()
        shape = value if kind == "identity" else value.shape
        self._check_second(ggx, grad_out, shape, shape)
        return (ggx if kind == "identity" else ggx * value), None

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"
