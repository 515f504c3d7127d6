"""Gradient penalties: a discriminator's loss that contains its own input gradient.

`gradient_penalty` computes WGAN-GP's and R1's penalty, and its gradient with respect to D's
parameters by a hand-written double backward; its docstring derives both.
"""

from __future__ import annotations

from .. import backend as B
from ..nn import frozen, record_backward


def gradient_penalty(discriminator, x, target: float = 0.0, weight: float = 1.0,
                     return_input_grad: bool = False, one_sided: bool = False):
    r"""The penalty $P = \frac1N \sum_n (\|\bar x_n\|_2 - t)^2$ of D's input gradients at `x`, and its parameter gradient.

    Returns P, a 0-d array, with $t$ = `target`, and adds `weight` $\cdot\, \partial P/\partial\theta$
    to the `.grad` of every parameter $\theta$ of D (not zeroed first). With
    `return_input_grad` it returns `(P, weight * dP/dx)` instead, the second being
    `weight` $\cdot\, \tilde x$ (zeros where no layer's backward depends on x). `one_sided`
    penalises only norms above the target (below). D must give one output per sample, shape
    $(N, 1)$, and have a second-order pass in every layer; otherwise a `ValueError` says why.

    **The penalty as a function of the input gradient.** For a critic D with one output per
    sample, $y_n = D(x_n)$, one backward pass with $\bar y = \mathbf 1$ (every sample's output
    weighted 1) gives

    $$
    \bar x_n = \frac{\partial}{\partial x_n} \sum_{n'} D(x_{n'}) = \nabla_{x_n} D(x_n),
    $$

    the second equality holding because $D(x_{n'})$ does not depend on $x_n$ for $n' \ne n$.
    That is why every layer of D is checked before anything is computed: BatchNorm is refused
    (its batch statistics make $\bar x_n$ depend on the other samples), with a message that
    names LayerNorm. On a batch $x_1, \dots, x_N$, with the norm taken over all input axes
    together,

    $$
    P = \frac1N \sum_n \bigl(\|\bar x_n\|_2 - t\bigr)^2.
    $$

    * $t = 1$ is WGAN-GP's (Gulrajani et al. 2017): D's loss gains $\lambda P$, that is
      $\lambda\, \mathbb E\,(\|\nabla_{\hat x} D(\hat x)\| - 1)^2$, on random interpolates
      $\hat x_n = u_n x_n + (1 - u_n)\, G(z_n)$ of real and fake samples, $u_n \sim \mathcal U[0, 1]$;
    * $t = 0$ is R1 (Mescheder et al. 2018): D's loss gains $\frac\gamma2 P$, that is
      $\frac\gamma2\, \mathbb E\, \|\nabla_x D(x)\|^2$, on the real samples.

    **Its adjoint.** With $\partial \|\bar x_n\|/\partial \bar x_n = \bar x_n / \|\bar x_n\|$, the
    adjoint of P with respect to the input gradient is

    $$
    \tilde{\bar x}_n = \frac{\partial P}{\partial \bar x_n}
    = \frac2N \bigl(\|\bar x_n\| - t\bigr) \frac{\bar x_n}{\|\bar x_n\|},
    \qquad \text{which is } \frac2N\, \bar x_n \text{ for } t = 0
    $$

    (with no division there, so it is defined at $\bar x_n = 0$). $\tilde{\bar x}$, of x's shape,
    is what starts the double backward. With `one_sided`, the WGAN-GP paper's alternative,

    $$
    P = \frac1N \sum_n \max\bigl(0,\, \|\bar x_n\|_2 - t\bigr)^2, \qquad
    \tilde{\bar x}_n = \frac2N \max\bigl(0,\, \|\bar x_n\| - t\bigr) \frac{\bar x_n}{\|\bar x_n\|}.
    $$

    **The parameter gradient.** P depends on D's parameters $\theta$ only through $\bar x$,
    which a backward pass computed, so $\partial P/\partial\theta$ needs a *second* backward pass,
    through the first. Write D as layers $f_1, \dots, f_K$ with $y_0 = x$,
    $y_k = f_k(y_{k-1}; \theta_k)$, whose backward pass runs $\bar y_{k-1} = J_k^\top \bar y_k$
    from $\bar y_K = \mathbf 1$ down to $\bar y_0 = \bar x$ ($J_k$ the Jacobian of $f_k$ at
    $y_{k-1}$). Then:

    1. forward $y = D(x)$; backward with $\bar y = \mathbf 1$, D frozen (no parameter
       gradients): $\bar x$, of x's shape, with the $\bar y_k$ each layer received recorded
       (`nn.record_backward`);
    2. $\tilde{\bar x}$ from $\bar x$ as above, times `weight`;
    3. `D.double_backward(ggx, 1)` with `ggx` $= \tilde{\bar x}$: each layer's second-order pass,
       in forward order, turns $\tilde{\bar y}_{k-1}$ into $\tilde{\bar y}_k$ and adds the part of
       $\partial P/\partial\theta_k$ that comes through $J_k$'s dependence on $\theta_k$ into `.grad`;
       the part through $J_k$'s dependence on $y_{k-1}$ is then backpropagated down the forward
       pass like an ordinary loss, adding the rest of $\partial P/\partial\theta$ and ending in
       $\tilde x = \partial P/\partial x$. Each layer's docstring derives its own pass, and
       `Sequential.double_backward` the chaining.
    """
    D = discriminator
    reason = D.second_order_refusal()
    if reason is not None:
        raise ValueError(f"gradient_penalty: {reason}")
    B.check_array(x, "gradient_penalty")
    xp = B.get_backend()
    y = D.forward(x, training=True)
    if y.ndim != 2 or y.shape[1] != 1:
        raise ValueError(f"gradient_penalty: the discriminator must give one output per sample, "
                         f"shape (N, 1); it gave {tuple(y.shape)}")
    ones = xp.ones_like(y)
    with record_backward(D):
        with frozen(D):
            g = D.backward(ones)                            # g_i = dD(x_i)/dx_i
        n = g.shape[0]
        flat = g.reshape(n, -1)
        norms = xp.sqrt((flat * flat).sum(axis=1, keepdims=True))   # (N, 1)
        excess = xp.maximum(norms - target, 0) if one_sided else norms - target
        value = (excess * excess).mean()
        if target:
            coef = (2.0 * weight / n) * excess / xp.maximum(norms, xp.finfo(g.dtype).tiny)
        else:
            coef = xp.full_like(norms, 2.0 * weight / n)
        _, gx = D.double_backward((flat * coef).reshape(g.shape), ones)
    if return_input_grad:
        return value, (gx if gx is not None else xp.zeros_like(x))
    return value
