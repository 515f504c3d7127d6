r"""Elementwise activations. Each keeps the smallest thing its backward pass needs.

**Backward.** An activation applies one scalar function $f$ to every entry, $y_k = f(x_k)$
($k$ any index of x; shapes any, y like x). Output $y_k$ depends on input $x_k$ alone, so
$\partial y_k / \partial x_{k'} = [k = k']\, f'(x_k)$, and the chain rule's sum over outputs
keeps one term:

$$
\bar x_k = \sum_{k'} \bar y_{k'} \frac{\partial y_{k'}}{\partial x_k} = f'(x_k)\, \bar y_k,
\qquad\text{i.e.}\qquad \bar x = f'(x) \odot \bar y .
$$

**Double backward.** A gradient penalty $P$ depends on $\bar x$; the pass receives
$\tilde{\bar x}$. Now $\bar x_k = f'(x_k)\, \bar y_k$ depends on $\bar y_k$ and on $x_k$ (and
on nothing else), with

$$
\frac{\partial \bar x_k}{\partial \bar y_k} = f'(x_k), \qquad
\frac{\partial \bar x_k}{\partial x_k} = f''(x_k)\, \bar y_k,
\qquad\text{so}\qquad
\tilde{\bar y} = f'(x) \odot \tilde{\bar x}, \qquad
\tilde x = f''(x) \odot \bar y \odot \tilde{\bar x} .
$$

$\tilde{\bar y}$ is the backward pass's own diagonal map applied to $\tilde{\bar x}$; $\tilde x$
is zero for the piecewise-linear ReLU and LeakyReLU ($f'' = 0$ wherever it exists), and
`double_backward` returns `None` for it. Each class below derives its $f'$ and $f''$.

How the code runs it: ReLU and LeakyReLU write y, the mask and $\bar x$ in x's memory layout
(channels-last after a convolution), slice by slice of the batch with `backend.parallel_for`;
the formulas above are their plain reference.
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
        r"""$\bar x = f'(x) \odot \bar y$ from what forward cached (`_input_grad`); `None` under
        `data_input`."""
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
        r"""$\tilde x = f''(x) \odot \bar y \odot \tilde{\bar x}$; `None` where $f'' = 0$ (piecewise-linear activations)."""
        return None

    def _masked_forward(self, x, fill):
        """y from `fill(x_slice, y_slice)` slice by slice of the batch, caching [x > 0];
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
        r"""An empty $\bar x$ in x's memory layout (the cached mask's)."""
        return B.get_backend().empty_like(mask, dtype=grad_out.dtype)


def _split(fn, x):
    """Run `fn(lo, hi)` over slices x[lo:hi] of the batch, split between threads when x
    is big enough for that to pay (`backend.parallel_for`, `elementwise_min_work`)."""
    B.parallel_for(fn, x.shape[0], x.size, min_work=B.elementwise_min_work())


class ReLU(_Elementwise):
    r"""Rectified linear unit, $f(x) = \max(x, 0)$.

    **Derivative.** $f$ is $0$ for $x < 0$ and $x$ for $x > 0$, so $f'(x) = [x > 0]$; at
    $x = 0$ it has no derivative, and the code takes the subgradient $0$ there. $f'' = 0$.

    **Backward.** $\bar x = [x > 0] \odot \bar y$.

    **Double backward.** $\tilde{\bar y} = [x > 0] \odot \tilde{\bar x}$ and $\tilde x = 0$.

    Cache: the boolean mask $[x > 0]$ (1 byte per element). Shapes: any, y like x.
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
    r"""Leaky ReLU with slope $a$ = `negative_slope` for negative inputs; DCGAN uses $a = 0.2$.

    **Forward.** $f(x) = x$ for $x > 0$ and $a x$ otherwise; for $a \le 1$ that is
    $\max(x, a x)$, which the code computes (and $\min(x, a x)$ for $a > 1$).

    **Derivative.** Each piece is linear: slope $1$ for $x > 0$, $a$ for $x < 0$ (the code
    takes $a$ at $x = 0$). Written with the mask, $f'(x) = a + (1 - a)\,[x > 0]$. $f'' = 0$.

    **Backward.** $\bar x = \big(a + (1 - a)[x > 0]\big) \odot \bar y$.

    **Double backward.** $\tilde{\bar y} = \big(a + (1 - a)[x > 0]\big) \odot \tilde{\bar x}$
    and $\tilde x = 0$.

    Cache: the boolean mask $[x > 0]$. Shapes: any, y like x. The code builds the slope
    array from the mask in place, with arithmetic rather than `where`.
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
        one_minus_a = dx.dtype.type(1.0 - a)  # a scalar of grad_out's dtype: no float64 detour

        def leaky_grad(lo, hi):  # (a + (1 - a) * mask) * grad_out, built in place
            d = dx[lo:hi]
            xp.multiply(mask[lo:hi], one_minus_a, out=d)
            d += a
            d *= grad_out[lo:hi]

        _split(leaky_grad, grad_out)
        return dx

    def __repr__(self) -> str:
        return f"LeakyReLU({self.negative_slope})"


class Tanh(_Elementwise):
    r"""Hyperbolic tangent, the usual last layer of an image generator (outputs in $(-1, 1)$).

    **Forward.** $y = \tanh x = \dfrac{e^{x} - e^{-x}}{e^{x} + e^{-x}}$.

    **Derivative.** With $\frac{\mathrm d}{\mathrm dx}(e^{x} \pm e^{-x}) = e^{x} \mp e^{-x}$,
    the quotient rule gives

    $$
    f'(x) = \frac{(e^{x} + e^{-x})^2 - (e^{x} - e^{-x})^2}{(e^{x} + e^{-x})^2} = 1 - y^2,
    \qquad
    f''(x) = \frac{\mathrm d}{\mathrm dx}(1 - y^2) = -2y\, f'(x) = -2y\,(1 - y^2),
    $$

    both functions of $y$, so $y$ is all the layer keeps.

    **Backward.** $\bar x = (1 - y^2) \odot \bar y$.

    **Double backward.** $\tilde{\bar y} = (1 - y^2) \odot \tilde{\bar x}$ and
    $\tilde x = -2y\,(1 - y^2) \odot \bar y \odot \tilde{\bar x}$.

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
    r"""Logistic function $1 / (1 + e^{-x})$, computed as $\frac12 (1 + \tanh(x/2))$: no overflow for any x.

    The two are equal: multiplying the numerator and denominator of $\tanh(x/2)$ by $e^{-x/2}$,
    $\tanh(x/2) = \dfrac{1 - e^{-x}}{1 + e^{-x}}$, so
    $\frac12 (1 + \tanh(x/2)) = \frac12 \cdot \dfrac{2}{1 + e^{-x}} = \dfrac{1}{1 + e^{-x}}$.
    """
    xp = B.get_backend()
    return 0.5 * (1 + xp.tanh(0.5 * x))


class Sigmoid(_Elementwise):
    r"""Logistic sigmoid, $y = \operatorname{sigmoid}(x) = 1 / (1 + e^{-x})$.

    **Forward.** Evaluated as $\frac12 (1 + \tanh(x/2))$, stable for any x (see `sigmoid`).

    **Derivative.** By the chain rule on $(1 + e^{-x})^{-1}$, and since
    $1 - y = e^{-x} / (1 + e^{-x})$:

    $$
    f'(x) = \frac{e^{-x}}{(1 + e^{-x})^2} = \frac{1}{1 + e^{-x}} \cdot \frac{e^{-x}}{1 + e^{-x}}
          = y\,(1 - y),
    \qquad
    f''(x) = \frac{\mathrm d}{\mathrm dx}\big(y - y^2\big) = (1 - 2y)\, f'(x) = y\,(1 - y)(1 - 2y),
    $$

    both functions of $y$, so $y$ is all the layer keeps.

    **Backward.** $\bar x = y\,(1 - y) \odot \bar y$.

    **Double backward.** $\tilde{\bar y} = y\,(1 - y) \odot \tilde{\bar x}$ and
    $\tilde x = y\,(1 - y)(1 - 2y) \odot \bar y \odot \tilde{\bar x}$.

    Cache: y. Shapes: any, y like x.

    For a discriminator's last layer prefer raw logits and
    `npgan.losses.sigmoid_cross_entropy`: $\log \operatorname{sigmoid}(x)$ underflows for large $|x|$.
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
