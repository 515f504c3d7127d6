r"""Gradient penalties: a discriminator's loss that contains its own input gradient.

For a critic D with one output per sample, the penalty on a batch x_1..x_N is::

    P = 1/N sum_i ( ||g_i||_2 - t )^2,        g_i = dD(x_i)/dx_i  (all input axes together)

``target`` t = 0 is R1 (Mescheder et al. 2018; on real samples, weight gamma/2);
t = 1 is WGAN-GP's (Gulrajani et al. 2017; on random interpolates of real and fake
samples, weight lambda). D's parameter gradient of P needs a *second* backward pass,
because P depends on theta through g, which a backward pass computed:

1. forward: y = D(x); backward with dL/dy = 1 per sample, D frozen: g = dx (N, ...),
   the G_k each layer received recorded (``nn.record_backward``);
2. dP/dg_i = 2/N (||g_i|| - t) g_i / ||g_i||   (= 2/N g_i for t = 0, with no division);
3. ``D.double_backward(dP/dg, 1)``: each layer's second-order pass (its docstring derives
   it) adds dP/dtheta into ``.grad`` and, through the forward pass, returns dP/dx.

Every layer of D is checked before anything is computed: BatchNorm is refused (its batch
statistics make g_i depend on the other samples), with a message that names LayerNorm.
"""

from __future__ import annotations

from .. import backend as B
from ..nn.module import frozen, record_backward


def gradient_penalty(discriminator, x, target: float = 0.0, weight: float = 1.0,
                     return_input_grad: bool = False, one_sided: bool = False):
    """P = mean_i (||dD(x_i)/dx_i||_2 - target)^2 (a 0-d array); adds ``weight`` * dP/dtheta
    to the ``.grad`` of every parameter of D (not zeroed first). With ``return_input_grad``
    returns (P, weight * dP/dx) instead. ``one_sided``: only norms above the target are
    penalised, P = mean_i max(0, ||g_i|| - target)^2 (the WGAN-GP paper's alternative)."""
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
