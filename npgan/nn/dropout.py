"""Inverted dropout (Srivastava et al. 2014)."""

from __future__ import annotations

from .. import backend as B
from .module import Layer

IDENTITY = "identity"  # the cache of a pass that dropped nothing (eval mode, or p = 0)


class Dropout(Layer):
    r"""Zero each element with probability `p` in training; the identity in eval.

    Below $\rho$ is the drop probability `p`, and $\xi$ the mask, one independent draw
    $\xi_k \sim \operatorname{Bernoulli}(1 - \rho)$ per element ($1$: kept).

    **Forward, training.** "Inverted" dropout scales the kept elements by $1/(1 - \rho)$,

    $$
    y_k = \frac{\xi_k}{1 - \rho}\, x_k,
    \qquad
    \mathbb E[y_k] = \frac{\mathbb E[\xi_k]}{1 - \rho}\, x_k = \frac{1 - \rho}{1 - \rho}\, x_k = x_k,
    $$

    so the expected output is the input and nothing needs rescaling at test time. (For
    $\rho = 1$ every element is dropped and the scale is taken as $0$.)

    **Forward, eval** (or $\rho = 0$). $y = x$.

    **Backward.** $y_k$ is $x_k$ times a constant drawn in the forward pass, so
    $\partial y_k / \partial x_{k'} = [k = k']\, \xi_k / (1 - \rho)$ and the chain rule keeps one
    term: $\bar x = \dfrac{\xi}{1 - \rho} \odot \bar y$ in training, $\bar x = \bar y$ in eval.

    **Double backward.** $\bar x$ is that same diagonal map of $\bar y$ and does not involve
    $x$, so $\tilde{\bar y} = \dfrac{\xi}{1 - \rho} \odot \tilde{\bar x}$ (in eval
    $\tilde{\bar y} = \tilde{\bar x}$) and $\tilde x = 0$.

    Cache: the scaled mask $\xi / (1 - \rho)$ (nothing but x's shape in eval). Shapes: any,
    y like x. The mask comes from npgan's seeded generator (`backend.seed`).
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if isinstance(p, bool) or not 0.0 <= p <= 1.0:  # NaN fails both comparisons
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = float(p)

    @classmethod
    def example(cls):
        return cls(0.4), (4, 6)

    def _forward(self, x, training):
        if not training or self.p == 0.0:
            return x, IDENTITY
        scale = 0.0 if self.p == 1.0 else 1.0 / (1.0 - self.p)
        mask = B.bernoulli(x.shape, 1.0 - self.p, dtype=x.dtype) * scale  # xi / (1 - rho)
        return x * mask, mask

    def _backward(self, grad_out, mask):
        return grad_out if mask is IDENTITY else grad_out * mask

    def _double_backward(self, ggx, grad_out, mask):
        r"""$\tilde{\bar y} = \tilde{\bar x} \odot \xi / (1 - \rho)$, the backward pass's diagonal map; $\tilde x = 0$ (`None`)."""
        return self._backward(ggx, mask), None

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"
