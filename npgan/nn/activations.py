"""Elementwise activations. Each keeps the smallest thing its backward pass needs.

For y = f(x) applied elementwise, the chain rule is dL/dx = dL/dy * f'(x), with
shapes equal to x's. The docstrings give f and f' as the code computes them.
"""

from __future__ import annotations

from .. import backend as B
from .module import Layer


class _Elementwise(Layer):
    def _begin(self, x):
        self._check_input(x)
        return B.get_backend()

    def _end_backward(self, grad_out):
        cache = self._cached()
        self._check_grad(grad_out, cache.shape)
        return cache


class ReLU(_Elementwise):
    r"""Rectified linear unit.

    Forward:  y = max(x, 0)
    Backward: dL/dx = dL/dy * [x > 0]      (the subgradient 0 is used at x = 0)
    Cache: the boolean mask [x > 0] (1 byte per element). Shapes: any, y like x.
    """

    def forward(self, x, training: bool = True):
        xp = self._begin(x)
        self._cache = x > 0
        return xp.maximum(x, 0)

    def backward(self, grad_out):
        mask = self._end_backward(grad_out)
        return grad_out * mask


class LeakyReLU(_Elementwise):
    r"""Leaky ReLU with slope ``negative_slope`` (a) for negative inputs; DCGAN uses a = 0.2.

    Forward:  y = x if x > 0 else a*x        computed as max(x, a*x) for a <= 1
    Backward: dL/dx = dL/dy * (1 if x > 0 else a)
                    = dL/dy * (a + (1 - a) * [x > 0])
    Cache: the boolean mask [x > 0]. Shapes: any, y like x.

    (Both passes avoid ``where``, which is several times slower than arithmetic
    on NumPy; the slope array is built from the mask in place.)
    """

    def __init__(self, negative_slope: float = 0.2):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x, training: bool = True):
        xp = self._begin(x)
        a = self.negative_slope
        self._cache = x > 0
        y = x * a
        if a <= 1.0:
            return xp.maximum(x, y, out=y)
        return xp.minimum(x, y, out=y)  # a > 1: a*x is the larger for x > 0

    def backward(self, grad_out):
        mask = self._end_backward(grad_out)
        a = self.negative_slope
        slope = mask.astype(grad_out.dtype)
        slope *= 1.0 - a
        slope += a
        slope *= grad_out
        return slope

    def __repr__(self) -> str:
        return f"LeakyReLU({self.negative_slope})"


class Tanh(_Elementwise):
    r"""Hyperbolic tangent, the usual last layer of an image generator (outputs in (-1, 1)).

    Forward:  y = tanh(x)
    Backward: dL/dx = dL/dy * (1 - y^2)
    Cache: y. Shapes: any, y like x.
    """

    def forward(self, x, training: bool = True):
        xp = self._begin(x)
        y = xp.tanh(x)
        self._cache = y
        return y

    def backward(self, grad_out):
        y = self._end_backward(grad_out)
        return grad_out * (1 - y * y)


def sigmoid(x):
    """Logistic function 1 / (1 + exp(-x)), computed as (1 + tanh(x/2)) / 2: no overflow for any x."""
    xp = B.get_backend()
    return 0.5 * (1 + xp.tanh(0.5 * x))


class Sigmoid(_Elementwise):
    r"""Logistic sigmoid.

    Forward:  y = 1 / (1 + exp(-x))     (evaluated as (1 + tanh(x/2)) / 2, stable for any x)
    Backward: dL/dx = dL/dy * y * (1 - y)
    Cache: y. Shapes: any, y like x.

    For a discriminator's last layer prefer raw logits and
    ``npgan.losses.sigmoid_cross_entropy``: log(sigmoid(x)) underflows for large |x|.
    """

    def forward(self, x, training: bool = True):
        self._begin(x)
        y = sigmoid(x)
        self._cache = y
        return y

    def backward(self, grad_out):
        y = self._end_backward(grad_out)
        return grad_out * y * (1 - y)
