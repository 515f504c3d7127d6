r"""The adversarial trainer: Algorithm 1 of Goodfellow et al. (2014), with the usual options.

D and G play the minimax game with value function::

    V(D, G) = E_{x ~ p_data}[log D(x)] + E_{z ~ p_z}[log(1 - D(G(z)))]

D maximises V; G minimises it. With D = sigmoid(logit) every term is a sigmoid
cross-entropy on logits (``npgan.losses``): -log D(x) = l(logit, 1) and
-log(1 - D(G(z))) = l(logit, 0). So the discriminator *minimises*::

    L_D = l(D(x), 1) + l(D(G(z)), 0)            (= -V, the estimate this step reports)

and the generator, in the paper's form (``loss="minimax"``), minimises::

    L_G = log(1 - D(G(z))) = -l(D(G(z)), 0)

whose gradient vanishes when D confidently rejects the fakes (D(G(z)) -> 0),
exactly early in training. The *non-saturating* loss (the default; the paper's
own advice) has the same fixed point but strong gradients there::

    L_G = -log D(G(z)) = l(D(G(z)), 1)

One ``train_step`` = k discriminator updates (``d_steps``, each on a fresh real
minibatch and fresh noise) then one generator update. Backprop path for G:
dL_G/dlogit -> D.backward -> dL_G/dx_fake -> G.backward -> G's parameter gradients.

Options: one-sided label smoothing (real targets 1 - s, fake targets stay 0,
Salimans et al. 2016); packing (PacGAN, Lin et al. 2018): D judges ``pack``
samples at once, concatenated along the feature/channel axis, which makes a
collapsed generator easy to spot; normal or uniform noise.
"""

from __future__ import annotations

from .. import backend as B
from ..losses import sigmoid_cross_entropy
from ..nn.activations import sigmoid
from ..nn.module import data_input, frozen
from ..optim import Adam, grad_norm
from .base import Trainer

LOSSES = ("non_saturating", "minimax")


def pack_samples(x, m: int):
    """(N, F, ...) -> (N/m, m*F, ...): m consecutive samples become one packed sample."""
    if m == 1:
        return x
    if x.shape[0] % m:
        raise ValueError(f"pack={m}: the batch size {x.shape[0]} must be a multiple of {m}")
    return x.reshape((x.shape[0] // m, m * x.shape[1]) + tuple(x.shape[2:]))


def unpack_grad(g, shape):
    """The adjoint of ``pack_samples``: a reshape back to the unpacked shape."""
    return g.reshape(shape)


class GAN(Trainer):
    """Adversarial training of ``generator`` against ``discriminator``.

    ``discriminator`` must output one *logit* per (packed) sample, shape (N/pack, 1):
    no final Sigmoid; the loss applies it stably. Default optimisers: Adam with
    ``lr`` and ``betas``.
    """

    def __init__(self, generator, discriminator, latent_dim: int, loss: str = "non_saturating",
                 d_steps: int = 1, label_smoothing: float = 0.0, pack: int = 1,
                 noise: str = "normal", lr: float = 1e-3, betas=(0.5, 0.999),
                 g_optimizer=None, d_optimizer=None):
        super().__init__(generator, latent_dim, noise)
        if loss not in LOSSES:
            raise ValueError(f"unknown generator loss {loss!r}; expected one of {LOSSES}")
        if d_steps < 1 or pack < 1:
            raise ValueError(f"d_steps and pack must be >= 1, got {d_steps} and {pack}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.discriminator = discriminator
        self.loss, self.d_steps, self.pack = loss, int(d_steps), int(pack)
        self.label_smoothing = float(label_smoothing)
        self.g_opt = g_optimizer or Adam(generator.parameters(), lr=lr, betas=betas)
        self.d_opt = d_optimizer or Adam(discriminator.parameters(), lr=lr, betas=betas)

    def _parts(self):
        return [("G", self.generator), ("D", self.discriminator),
                ("opt_g", self.g_opt), ("opt_d", self.d_opt)]

    def _d_logits(self, x):
        return self.discriminator.forward(pack_samples(x, self.pack), training=True)

    def discriminator_gradients(self, real, z=None) -> dict:
        """L_D = l(D(x), 1 - s) + l(D(G(z)), 0) and its gradients in D's ``.grad`` (zeroed first)."""
        D, G = self.discriminator, self.generator
        z = self.sample_noise(real.shape[0]) if z is None else z
        fake = G.forward(z, training=True)
        D.zero_grad()
        logit_real = self._d_logits(real)
        loss_real, g = sigmoid_cross_entropy(logit_real, 1.0 - self.label_smoothing)
        with data_input(D):  # D's input gradient is not needed here: G is not being updated
            D.backward(g)  # backward right after its forward: the layers cache one pass
            logit_fake = self._d_logits(fake)
            loss_fake, g = sigmoid_cross_entropy(logit_fake, 0.0)
            D.backward(g)  # adds to the real pass's gradients
        return {"d_loss": loss_real + loss_fake, "d_real": float(sigmoid(logit_real).mean()),
                "d_fake": float(sigmoid(logit_fake).mean())}

    def discriminator_step(self, real) -> dict:
        """One update of D on a real minibatch and as many fakes: minimise L_D = -V."""
        stats = self.discriminator_gradients(real)
        stats["d_grad_norm"] = grad_norm(self.discriminator.parameters())
        self.d_opt.step()
        return stats

    def generator_gradients(self, batch_size: int, z=None) -> float:
        """L_G (minimax or non-saturating) and its gradients in G's ``.grad`` (zeroed first).

        The gradient flows *through* D to G(z), but D is frozen on the way: its weight
        gradients are not computed (G's update does not use them) and its ``.grad`` is
        left as it was.
        """
        D, G = self.discriminator, self.generator
        G.zero_grad()
        z = self.sample_noise(batch_size) if z is None else z
        fake = G.forward(z, training=True)
        logits = self._d_logits(fake)
        if self.loss == "non_saturating":
            g_loss, g = sigmoid_cross_entropy(logits, 1.0)          # -log D(G(z))
        else:
            neg, g = sigmoid_cross_entropy(logits, 0.0)             # -log(1 - D(G(z)))
            g_loss, g = -neg, -g                                   # log(1 - D(G(z)))
        with frozen(D):
            grad_fake = unpack_grad(D.backward(g), fake.shape)     # dL_G / dG(z)
        G.backward(grad_fake)
        return g_loss

    def generator_step(self, batch_size: int) -> dict:
        """One update of G through a fixed D, with the minimax or the non-saturating loss."""
        g_loss = self.generator_gradients(batch_size)
        norm = grad_norm(self.generator.parameters())
        self.g_opt.step()
        return {"g_loss": g_loss, "g_grad_norm": norm}

    def train_step(self, real_batch) -> dict:
        """k = d_steps discriminator updates, then one generator update.

        ``real_batch`` holds the k real minibatches stacked, shape (k*m, ...): D step i
        uses rows [i*m, (i+1)*m). Returns the step's figures: d_loss (= -V on the last
        D step), g_loss, d_real = mean D(x), d_fake = mean D(G(z)), and the gradient
        norms of both networks.
        """
        B.check_array(real_batch, "GAN.train_step")
        n = real_batch.shape[0]
        if n % self.d_steps or (n // self.d_steps) % self.pack:
            raise ValueError(f"GAN.train_step: a real batch of {n} rows cannot be split into "
                             f"d_steps={self.d_steps} minibatches whose size is a multiple of "
                             f"pack={self.pack}")
        m = n // self.d_steps
        for i in range(self.d_steps):
            stats = self.discriminator_step(real_batch[i * m:(i + 1) * m])
        stats.update(self.generator_step(m))
        self.step += 1
        stats["step"] = self.step
        return stats
