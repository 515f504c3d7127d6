"""Dense (fully connected) layer."""

from __future__ import annotations

from .. import kernels as K
from .im2col import integer
from .init import init_weight_bias
from .module import Layer, Parameter


class Dense(Layer):
    r"""Affine map $y = xW + b$: every output feature a weighted sum of the input features.

    **Shapes.** x `(N, in_features)`, W `(in_features, out_features)`, b `(out_features,)`,
    y `(N, out_features)`. W is stored (in, out) so that the forward pass reads like the
    math; PyTorch's `nn.Linear` stores the transpose. `init` picks the initialiser (see
    `npgan.nn.init`); the default is PyTorch's.

    **Forward.** With $n$ the sample, $i$ an input and $j$ an output feature:

    $$
    y_{nj} = \sum_i x_{ni} W_{ij} + b_j .
    $$

    **Backward.** Each output is linear in each of $x$, $W$, $b$, so its partial derivatives
    are read off the forward formula. $y_{nj}$ involves only sample $n$'s inputs and only
    column $j$ of $W$ (the brackets are 1 when the condition holds, else 0):

    $$
    \frac{\partial y_{nj}}{\partial x_{n'i}} = [n' = n]\, W_{ij}, \qquad
    \frac{\partial y_{nj}}{\partial W_{ij'}} = [j' = j]\, x_{ni}, \qquad
    \frac{\partial y_{nj}}{\partial b_{j'}} = [j' = j] .
    $$

    The chain rule sums over every output that a quantity reaches, and the brackets keep
    one term of each sum:

    $$
    \begin{aligned}
    \bar x_{ni} &= \sum_{n', j} \bar y_{n'j} \frac{\partial y_{n'j}}{\partial x_{ni}}
                 = \sum_j \bar y_{nj} W_{ij}, \\
    \bar W_{ij} &= \sum_{n, j'} \bar y_{nj'} \frac{\partial y_{nj'}}{\partial W_{ij}}
                 = \sum_n x_{ni}\, \bar y_{nj}, \\
    \bar b_j    &= \sum_{n, j'} \bar y_{nj'} \frac{\partial y_{nj'}}{\partial b_j}
                 = \sum_n \bar y_{nj} .
    \end{aligned}
    $$

    A sum over a shared index is a matrix product, so collected into matrices:

    $$
    \bar x = \bar y\, W^\top \quad (N, \text{in}), \qquad
    \bar W = x^\top \bar y \quad (\text{in}, \text{out}), \qquad
    \bar b = \sum_n \bar y_{n\cdot} \quad (\text{out}) .
    $$

    `backward` returns $\bar x$ and adds $\bar W$, $\bar b$ into `W.grad`, `b.grad`.
    Cache: $x$ (needed for $\bar W$).

    **Double backward.** A gradient penalty $P$ depends on $\bar x$; the pass receives
    $\tilde{\bar x} = \partial P / \partial \bar x$, shaped like $x$. The backward map
    $\bar x_{ni} = \sum_j \bar y_{nj} W_{ij}$ is bilinear in $(\bar y, W)$ and does not
    involve $x$, so the same reading-off gives

    $$
    \frac{\partial \bar x_{ni}}{\partial \bar y_{n'j}} = [n' = n]\, W_{ij}, \qquad
    \frac{\partial \bar x_{ni}}{\partial W_{i'j}} = [i' = i]\, \bar y_{nj}, \qquad
    \frac{\partial \bar x_{ni}}{\partial x_{n'i'}} = 0,
    $$

    and the chain rule, summing over $\bar x$'s entries:

    $$
    \begin{aligned}
    \tilde{\bar y}_{nj} &= \sum_i \tilde{\bar x}_{ni} W_{ij}
        &&\Longrightarrow\quad \tilde{\bar y} = \tilde{\bar x}\, W \quad (N, \text{out}), \\
    \tilde W_{ij} &= \sum_n \tilde{\bar x}_{ni}\, \bar y_{nj}
        &&\Longrightarrow\quad \tilde W = \tilde{\bar x}^\top \bar y \quad (\text{in}, \text{out}), \\
    \tilde x &= 0 .
    \end{aligned}
    $$

    $\tilde{\bar y}$ is the forward map applied to $\tilde{\bar x}$, without the bias.
    `double_backward` returns $\tilde{\bar y}$ and `None` for the zero $\tilde x$, and adds
    $\tilde W$ into `W.grad`.
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

    def _input_spec(self) -> dict:
        return {"ndim": 2, "features": self.in_features}

    @classmethod
    def example(cls):
        return cls(3, 2), (4, 3)

    def _forward(self, x, training):
        return x @ self.weight.data + self.bias.data, x

    def _backward(self, grad_out, x):
        if self.requires_grad:
            self.weight.grad += x.T @ grad_out
            self.bias.grad += K.channel_sum(grad_out)  # Σ over n
        if not self.input_grad:
            return None
        return K.matmul(grad_out, self.weight.data.T)  # grad_out @ W.T

    def _double_backward(self, ggx, grad_out, x):
        if self.requires_grad:
            self.weight.grad += ggx.T @ grad_out
        return ggx @ self.weight.data, None

    def __repr__(self) -> str:
        return f"Dense({self.in_features}->{self.out_features})"
