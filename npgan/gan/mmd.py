r"""Direct training of a generator by Maximum Mean Discrepancy (no discriminator).

Generative moment matching networks (Li, Swersky & Zemel 2015; Dziugaite, Roy &
Ghahramani 2015): the generator G maps noise to samples, and its loss is the
unbiased MMD^2 between a generated minibatch and a real one under a mixture of
Gaussian kernels (``npgan.losses.mmd2``, gradient written by hand). Backprop:
dMMD^2/dx_fake -> G.backward -> G's parameter gradients -> Adam.

It is the "direct" route of the seed notes: compare the generated distribution
with the data through samples, and descend.

What limits it: the gradient on a generated sample x is the gradient of the witness
function f(x) = E_fake k(x, .) - E_real k(x, .), the kernel-smoothed *difference* of the
two densities. Where G puts a small mass on empty ground (the paths its continuous map
draws between two modes) that difference is small, so those samples feel a weak pull,
and they are what keeps the MMD generator's high-quality share below a GAN's: the
discriminator's gradient follows the density *ratio*, which is large there. Defaults:
lr 1e-2 and uniform noise on [-1, 1]^d (a bounded latent leaves no far tail of z to
extrapolate into stray samples); their measurements are in benchmarks/QUALITY.md.
"""

from __future__ import annotations

from .. import backend as B
from ..losses import DEFAULT_BANDWIDTHS, check_bandwidths, mmd2
from ..optim import Adam, grad_norm
from .base import Trainer, register_trainer


@register_trainer
class MMDTrainer(Trainer):
    """Generator-only trainer: each step descends MMD^2(G(z), real batch) with Adam
    (``g_optimizer`` replaces it)."""

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
        """MMD^2(G(z), real) on as many fakes as ``real`` has rows, and its gradients in G's
        ``.grad`` (zeroed first)."""
        G = self.generator
        G.zero_grad()
        z = self.sample_noise(real.shape[0]) if z is None else z
        fake = G.forward(z, training=True)
        value, grad = mmd2(fake, real, self.bandwidths)
        G.backward(grad)
        return value

    def train_step(self, real_batch) -> dict:
        """One generator update on MMD^2(G(z), real_batch) with as many fakes as real rows."""
        B.check_array(real_batch, "MMDTrainer.train_step", ndim=2)
        value = self.generator_gradients(real_batch)
        norm = grad_norm(self.generator.parameters())
        self.g_opt.step()
        self.step += 1
        return {"step": self.step, "mmd2": value, "g_grad_norm": norm}
