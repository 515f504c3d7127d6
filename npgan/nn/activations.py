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

How the code runs it: ReLU and LeakyReLU call `npgan.kernels` (`relu`, `leaky_relu` and their
gradients), which write y, the mask and $\bar x$ in x's memory layout (channels-last after a
convolution) and split the batch between threads; the formulas above are their reference.

**Writing one.** Subclass `Activation` and write `_forward(x, training) -> (y, cache)` (f),
`_backward(grad_out, cache)` ($f'(x) \odot \bar y$) and `_curvature(grad_out, ggx, cache)`
($f''(x) \odot \bar y \odot \tilde{\bar x}$, or `None` for a piecewise-linear f). Without its
own `_curvature` (or with `_curvature = None`) an activation has no second-order pass, and a
gradient penalty refuses it by name.
"""

from __future__ import annotations

import math
import numbers

from .. import backend as B
from .. import kernels as K
from .module import Layer


class Activation(Layer):
    """An elementwise $y = f(x)$; its double backward is the module docstring's, from `_curvature`."""

    second_order_hook = "_curvature"

    def _double_backward(self, ggx, grad_out, cache):
        r"""$\tilde{\bar y} = f'(x) \odot \tilde{\bar x}$ (the backward map applied to
        $\tilde{\bar x}$) and $\tilde x$ from `_curvature`."""
        return self._backward(ggx, cache), self._curvature(grad_out, ggx, cache)


class ReLU(Activation):
    r"""Rectified linear unit, $f(x) = \max(x, 0)$.

    **Derivative.** $f$ is $0$ for $x < 0$ and $x$ for $x > 0$, so $f'(x) = [x > 0]$; at
    $x = 0$ it has no derivative, and the code takes the subgradient $0$ there. $f'' = 0$.

    **Backward.** $\bar x = [x > 0] \odot \bar y$.

    **Double backward.** $\tilde{\bar y} = [x > 0] \odot \tilde{\bar x}$ and $\tilde x = 0$.

    Cache: the boolean mask $[x > 0]$ (1 byte per element). Shapes: any, y like x.
    """

    def _forward(self, x, training):
        return K.relu(x)  # (max(x, 0), [x > 0])

    def _backward(self, grad_out, mask):
        return K.relu_grad(grad_out, mask)  # [x > 0] * grad_out

    def _curvature(self, grad_out, ggx, mask):
        return None  # f'' = 0


class LeakyReLU(Activation):
    r"""Leaky ReLU with slope $a$ = `negative_slope` for negative inputs; DCGAN uses $a = 0.2$.

    **Forward.** $f(x) = x$ for $x > 0$ and $a x$ otherwise; for $a \le 1$ that is
    $\max(x, a x)$, which the code computes (and $\min(x, a x)$ for $a > 1$).

    **Derivative.** Each piece is linear: slope $1$ for $x > 0$, $a$ for $x < 0$ (the code
    takes $a$ at $x = 0$). Written with the mask, $f'(x) = a + (1 - a)\,[x > 0]$. $f'' = 0$.

    **Backward.** $\bar x = \big(a + (1 - a)[x > 0]\big) \odot \bar y$.

    **Double backward.** $\tilde{\bar y} = \big(a + (1 - a)[x > 0]\big) \odot \tilde{\bar x}$
    and $\tilde x = 0$.

    Cache: the boolean mask $[x > 0]$. Shapes: any, y like x.
    """

    def __init__(self, negative_slope: float = 0.2):
        super().__init__()
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real) \
                or not math.isfinite(negative_slope):
            raise ValueError(f"LeakyReLU: negative_slope must be a finite number, got {negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def _forward(self, x, training):
        return K.leaky_relu(x, self.negative_slope)  # (f(x), [x > 0])

    def _backward(self, grad_out, mask):
        return K.leaky_relu_grad(grad_out, mask, self.negative_slope)  # (a + (1 - a)[x > 0]) * grad_out

    def _curvature(self, grad_out, ggx, mask):
        return None  # f'' = 0

    def __repr__(self) -> str:
        return f"LeakyReLU({self.negative_slope})"


class Tanh(Activation):
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

    def _forward(self, x, training):
        y = B.get_backend().tanh(x)
        return y, y

    def _backward(self, grad_out, y):
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


class Sigmoid(Activation):
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

    def _forward(self, x, training):
        y = sigmoid(x)
        return y, y

    def _backward(self, grad_out, y):
        return grad_out * y * (1 - y)

    def _curvature(self, grad_out, ggx, y):
        return ggx * grad_out * (y * (1 - y) * (1 - 2 * y))
