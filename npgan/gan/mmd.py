"""Direct training of a generator by Maximum Mean Discrepancy (no discriminator).

`MMDTrainer`'s docstring gives the loss, its backprop path and what limits it.
"""

from __future__ import annotations

from .. import backend as B
from ..losses import DEFAULT_BANDWIDTHS, check_bandwidths, mmd2
from ..optim import Adam, grad_norm
from .base import Trainer, register_trainer


@register_trainer
class MMDTrainer(Trainer):
    r"""Generator-only trainer: each step descends $\widehat{\mathrm{MMD}}^2(G(z), \text{real batch})$ with Adam.

    Generative moment matching networks (Li, Swersky & Zemel 2015; Dziugaite, Roy & Ghahramani
    2015): the generator G maps noise to samples, and its loss is the unbiased
    $\widehat{\mathrm{MMD}}^2$ between a generated minibatch $G(z_1), \dots, G(z_N)$ and a real one
    $x_1, \dots, x_N$ under a mixture $k$ of Gaussian kernels (`npgan.losses.mmd2`, whose
    docstring derives the estimator and its gradient, written by hand). Backprop:
    $\partial \widehat{\mathrm{MMD}}^2/\partial G(z)$ $\to$ `G.backward` $\to$ G's parameter
    gradients $\to$ Adam (`g_optimizer` replaces it). `bandwidths` are the kernel's, checked by
    `npgan.losses.check_bandwidths`.

    It is the "direct" route of the seed notes: compare the generated distribution with the
    data through samples, and descend.

    **What limits it.** Collecting the terms of `mmd2`'s gradient that act on the $n$-th fake,

    $$
    \frac{\partial \widehat{\mathrm{MMD}}^2}{\partial G(z_n)}
    = \frac2N \nabla f\bigl(G(z_n)\bigr), \qquad
    f(v) = \frac{1}{N-1} \sum_{j \ne n} k\bigl(v, G(z_j)\bigr) - \frac1N \sum_j k(v, x_j),
    $$

    the gradient of the empirical witness function (for the fixed $n$), whose expectation is

    $$
    \mathbb E_{z \sim p_z} k\bigl(v, G(z)\bigr) - \mathbb E_{x \sim p_\text{data}} k(v, x)
    = \int k(v, w)\, \bigl(p_g(w) - p_\text{data}(w)\bigr)\, dw,
    $$

    the kernel-smoothed *difference* of the two densities; a step of descent moves each fake
    down its slope. Where G puts a small mass on empty ground (the paths its continuous map
    draws between two modes) that difference is small, so those samples feel a weak pull, and
    they are what keeps the MMD generator's high-quality share below a GAN's: the
    discriminator's gradient follows the density *ratio*, which is large there.

    **Defaults.** lr $10^{-2}$ and uniform noise on $[-1, 1]^d$, $d$ the latent size (a bounded
    latent leaves no far tail of $z$ to extrapolate into stray samples).
    """

    name = "mmd"
    defaults = {"lr": 1e-2, "noise": "uniform"}
    options = ("bandwidths",)
    for_images = False

    def __init__(self, generator, latent_dim: int, bandwidths=DEFAULT_BANDWIDTHS,
                 noise: str = "uniform", lr: float = 1e-2, betas=(0.5, 0.999), g_optimizer=None):
        super().__init__(generator, latent_dim, noise)
        self.bandwidths = check_bandwidths(bandwidths, "MMDTrainer")
        self.g_opt = g_optimizer or Adam(generator.parameters(), lr=lr, betas=betas)

    def _parts(self):
        return [("G", self.generator), ("opt_g", self.g_opt)]

    def generator_gradients(self, real, z=None):
        r"""$\widehat{\mathrm{MMD}}^2(G(z), \text{real})$ on as many fakes as `real` has rows.

        Its gradients are left in G's `.grad` (zeroed first)."""
        G = self.generator
        G.zero_grad()
        z = self.sample_noise(real.shape[0]) if z is None else z
        fake = G.forward(z, training=True)
        value, grad = mmd2(fake, real, self.bandwidths)
        G.backward(grad)
        return value

    def train_step(self, real_batch) -> dict:
        r"""One generator update on $\widehat{\mathrm{MMD}}^2(G(z), \text{real batch})$ with as many fakes as real rows."""
        B.check_array(real_batch, "MMDTrainer.train_step", ndim=2)
        value = self.generator_gradients(real_batch)
        norm = grad_norm(self.generator.parameters())
        self.g_opt.step()
        self.step += 1
        return {"step": self.step, "mmd2": value, "g_grad_norm": norm}
