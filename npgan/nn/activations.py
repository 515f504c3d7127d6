"""Elementwise activations. Each keeps the smallest thing its backward pass needs.

For y = f(x) applied elementwise, the chain rule is dL/dx = dL/dy * f'(x), with
shapes equal to x's. The docstrings give f and f' as the code computes them.

Double backward (gradient penalties): with G = dL/dy and ggx = dP/d(dL/dx) for a
scalar P of the input gradient dx = G * f'(x)::

    dP/dG = ggx * f'(x)              (the same diagonal map as the backward pass)
    dP/dx = ggx * G * f''(x)         (zero for the piecewise-linear ReLU and LeakyReLU)

Speed (not math). ReLU and LeakyReLU, the activations of the DCGAN hidden
layers, write y, the mask and dL/dx into arrays with x's memory layout
(channels-last after a convolution), so no pass walks an array against its
strides; and they fill them slice by slice of the batch with
``backend.parallel_for``, so on big batches both cores work (NumPy runs each
elementwise operation on one). Each slice is the same vectorised code.
"""

from __future__ import annotations

import math
import numbers

from .. import backend as B
from .module import Layer


class _Elementwise(Layer):
    def _begin(self, x):
        self._check_input(x)
        return B.get_backend()

    def backward(self, grad_out):
        """dL/dx = dL/dy * f'(x) from what forward cached (``_input_grad``); None under
        ``data_input``."""
        cache = self._cached()
        self._check_grad(grad_out, cache.shape)
        return self._input_grad(grad_out, cache) if self.input_grad else None

    def _input_grad(self, grad_out, cache):  # pragma: no cover - abstract
        raise NotImplementedError

    def double_backward(self, ggx, grad_out):
        cache = self._forward_cache()
        self._check_second(ggx, grad_out, cache.shape, cache.shape)
        return self._input_grad(ggx, cache), self._curvature(grad_out, ggx, cache)

    def _curvature(self, grad_out, ggx, cache):
        """dP/dx = ggx * G * f''(x); None where f'' = 0 (piecewise-linear activations)."""
        return None

    def _masked_forward(self, x, fill):
        """y from ``fill(x_slice, y_slice)`` slice by slice of the batch, caching [x > 0];
        y and the mask in x's memory layout."""
        xp = self._begin(x)
        mask, y = xp.empty_like(x, dtype=bool), xp.empty_like(x)

        def run(lo, hi):
            xp.greater(x[lo:hi], 0, out=mask[lo:hi])
            fill(x[lo:hi], y[lo:hi])

        _split(run, x)
        self._cache = mask
        return y

    @staticmethod
    def _empty_grad(mask, grad_out):
        """An empty dL/dx in x's memory layout (the cached mask's)."""
        return B.get_backend().empty_like(mask, dtype=grad_out.dtype)


def _split(fn, x):
    """Run ``fn(lo, hi)`` over slices x[lo:hi] of the batch, split between threads when x
    is big enough for that to pay (``backend.parallel_for``, ``elementwise_min_work``)."""
    B.parallel_for(fn, x.shape[0], x.size, min_work=B.elementwise_min_work())


class ReLU(_Elementwise):
    r"""Rectified linear unit.

    Forward:  y = max(x, 0)
    Backward: dL/dx = dL/dy * [x > 0]      (the subgradient 0 is used at x = 0)
    Cache: the boolean mask [x > 0] (1 byte per element). Shapes: any, y like x.
    """

    def forward(self, x, training=None):
        xp = B.get_backend()
        return self._masked_forward(x, lambda xs, ys: xp.maximum(xs, 0, out=ys))

    def _input_grad(self, grad_out, mask):
        dx = self._empty_grad(mask, grad_out)
        xp = B.get_backend()

        def relu_grad(lo, hi):
            xp.multiply(grad_out[lo:hi], mask[lo:hi], out=dx[lo:hi])

        _split(relu_grad, grad_out)
        return dx


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
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real) \
                or not math.isfinite(negative_slope):
            raise ValueError(f"LeakyReLU: negative_slope must be a finite number, got {negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def forward(self, x, training=None):
        xp = B.get_backend()
        a = self.negative_slope
        pick = xp.maximum if a <= 1.0 else xp.minimum  # a > 1: a*x is the larger for x > 0

        def leaky(xs, ys):  # max(x, a*x), into y
            xp.multiply(xs, a, out=ys)
            pick(xs, ys, out=ys)

        return self._masked_forward(x, leaky)

    def _input_grad(self, grad_out, mask):
        dx = self._empty_grad(mask, grad_out)
        xp = B.get_backend()
        a = self.negative_slope
        one_minus_a = dx.dtype.type(1.0 - a)  # a scalar of G's dtype: no float64 detour

        def leaky_grad(lo, hi):  # (a + (1 - a) * mask) * G, built in place
            d = dx[lo:hi]
            xp.multiply(mask[lo:hi], one_minus_a, out=d)
            d += a
            d *= grad_out[lo:hi]

        _split(leaky_grad, grad_out)
        return dx

    def __repr__(self) -> str:
        return f"LeakyReLU({self.negative_slope})"


class Tanh(_Elementwise):
    r"""Hyperbolic tangent, the usual last layer of an image generator (outputs in (-1, 1)).

    Forward:  y = tanh(x)
    Backward: dL/dx = dL/dy * (1 - y^2)
    Second derivative: f''(x) = -2 y (1 - y^2)
    Cache: y. Shapes: any, y like x.
    """

    def forward(self, x, training=None):
        xp = self._begin(x)
        y = xp.tanh(x)
        self._cache = y
        return y

    def _input_grad(self, grad_out, y):
        return grad_out * (1 - y * y)

    def _curvature(self, grad_out, ggx, y):
        return ggx * grad_out * (-2 * y * (1 - y * y))


def sigmoid(x):
    """Logistic function 1 / (1 + exp(-x)), computed as (1 + tanh(x/2)) / 2: no overflow for any x."""
    xp = B.get_backend()
    return 0.5 * (1 + xp.tanh(0.5 * x))


class Sigmoid(_Elementwise):
    r"""Logistic sigmoid.

    Forward:  y = 1 / (1 + exp(-x))     (evaluated as (1 + tanh(x/2)) / 2, stable for any x)
    Backward: dL/dx = dL/dy * y * (1 - y)
    Second derivative: f''(x) = y (1 - y) (1 - 2y)
    Cache: y. Shapes: any, y like x.

    For a discriminator's last layer prefer raw logits and
    ``npgan.losses.sigmoid_cross_entropy``: log(sigmoid(x)) underflows for large |x|.
    """

    def forward(self, x, training=None):
        self._begin(x)
        y = sigmoid(x)
        self._cache = y
        return y

    def _input_grad(self, grad_out, y):
        return grad_out * y * (1 - y)

    def _curvature(self, grad_out, ggx, y):
        return ggx * grad_out * (y * (1 - y) * (1 - 2 * y))
