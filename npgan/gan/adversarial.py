"""The adversarial trainer: Algorithm 1 of Goodfellow et al. (2014), with the usual options.

`GANTrainer`'s docstring gives the game, the algorithm one training step follows, the gradient
penalties and the options; `pack_samples` and `unpack_grad` are PacGAN's packing and its
adjoint.
"""

from __future__ import annotations

from .. import backend as B
from ..nn import data_input, frozen
from ..optim import Adam, grad_norm
from ..parallel import average_gradients, mean_over_ranks
from .base import Trainer, register_trainer
from .conditional import with_labels, without_labels
from .losses import make_loss
from .penalties import gradient_penalty


def pack_samples(x, m: int):
    r"""$(N, F, \dots) \to (N/m, mF, \dots)$: $m$ consecutive samples become one packed sample.

    Packed sample $j$ holds samples $jm, \dots, jm + m - 1$, their features (or channels)
    side by side. $N$ must be a multiple of $m$; $m = 1$ returns `x` itself.
    """
    if m == 1:
        return x
    if x.shape[0] % m:
        raise ValueError(f"pack={m}: the batch size {x.shape[0]} must be a multiple of {m}")
    return x.reshape((x.shape[0] // m, m * x.shape[1]) + tuple(x.shape[2:]))


def unpack_grad(g, shape):
    """The adjoint of `pack_samples`: a reshape back to the unpacked shape.

    A reshape only renames the elements, so its adjoint is the inverse reshape."""
    return g.reshape(shape)


def _buffers(layer) -> list:
    return [(name, a.copy()) for name, a in layer.named_buffers()]


def _set_state(layer, rng_state, buffers) -> None:
    """Put back a random state and a layer's buffers saved by `_buffers`."""
    B.set_rng_state(rng_state)
    for name, saved in buffers:
        layer.set_buffer(name, saved)


@register_trainer
class GANTrainer(Trainer):
    r"""Adversarial training of `generator` against `discriminator`: Algorithm 1 of Goodfellow et al. (2014).

    `discriminator` must output one *logit* per (packed) sample, shape $(N/m, 1)$ for
    $m$ = `pack`: no final Sigmoid; the loss applies it stably. `loss` is a name registered
    in `npgan.gan.losses.GAN_LOSSES` or a `GANLoss`. Default optimisers: Adam with `lr` and
    `betas`; `g_optimizer` / `d_optimizer` replace them. `d_steps` and `pack` must be at
    least 1, the penalty weights `gp` and `r1` non-negative; a penalty needs a critic with a
    second-order pass, and a conditional GAN (`num_classes` > 0) takes no penalty.

    **The game.** D and G play the minimax game with value function

    $$
    V(D, G) = \mathbb E_{x \sim p_\text{data}}\bigl[\log D(x)\bigr] + \mathbb E_{z \sim p_z}\bigl[\log\bigl(1 - D(G(z))\bigr)\bigr].
    $$

    D maximises V; G minimises it. With $D = \sigma(a)$ for D's logit $a$, every term is a
    sigmoid cross-entropy $\ell$ on logits (`npgan.losses`): $-\log D(x) = \ell(a(x), 1)$ and
    $-\log\bigl(1 - D(G(z))\bigr) = \ell(a(G(z)), 0)$. So the discriminator *minimises*

    $$
    L_D = \ell\bigl(a(x), 1\bigr) + \ell\bigl(a(G(z)), 0\bigr) \qquad (= -V\text{, the estimate this step reports}),
    $$

    and the generator, in the paper's form (`loss="minimax"`), minimises

    $$
    L_G = \log\bigl(1 - D(G(z))\bigr) = -\ell\bigl(a(G(z)), 0\bigr),
    $$

    whose gradient vanishes when D confidently rejects the fakes ($D(G(z)) \to 0$), exactly
    early in training. The *non-saturating* loss (the default; the paper's own advice) has the
    same fixed point but strong gradients there:

    $$
    L_G = -\log D(G(z)) = \ell\bigl(a(G(z)), 1\bigr).
    $$

    The losses themselves are objects in `npgan.gan.losses` (these two and any other registered
    there), whose docstrings derive their gradients; `npgan.gan.losses` states their contract.
    For a separable loss, D's loss a real term plus a fake term, the trainer calls the two
    terms, each right after its pass of D, which backpropagates at once (D's layers cache one
    pass). A `joint` loss (the relativistic one) gets D's outputs on both batches together
    (`discriminator(real_out, fake_out)`), so D's real pass runs again, from the same random
    state and buffers, for its backward; and G's step runs D on the real minibatch too, for
    `generator(fake_out, real_out)`.

    **One `train_step`** (Algorithm 1, with Adam where the paper has momentum SGD), for $k$ =
    `d_steps` and a minibatch size $N$:

    1. $k$ times: draw a fresh real minibatch $x_1, \dots, x_N \sim p_\text{data}$ and fresh
       noise $z_1, \dots, z_N \sim p_z$, and take one optimiser step on D's parameters
       $\theta_D$ with the gradient $\partial L_D/\partial\theta_D$, descending $L_D$ (for the
       cross-entropy losses, ascending V);
    2. once: draw fresh noise $z_1, \dots, z_N$ and take one optimiser step on G's parameters
       $\theta_G$ with the gradient $\partial L_G/\partial\theta_G$, through a fixed D.

    Backprop path for G: the loss's $\partial L_G/\partial a$ $\to$ `D.backward` (D frozen)
    $\to \partial L_G/\partial G(z) \to$ `G.backward` $\to$ G's parameter gradients.

    **Gradient penalties** (`npgan.gan.penalties`, hand-written double backprop; they enter D's
    loss only, and need a critic without BatchNorm). `gp` $= \lambda$ adds

    $$
    \lambda\, \frac1N \sum_n \bigl(\|\nabla_{\hat x_n} D(\hat x_n)\| - 1\bigr)^2, \qquad
    \hat x_n = u_n x_n + (1 - u_n)\, G(z_n), \quad u_n \sim \mathcal U[0, 1] \text{ per sample},
    $$

    on random interpolates of real and fake samples (WGAN-GP, Gulrajani et al. 2017); `r1`
    $= \gamma$ adds $\frac\gamma2 \frac1N \sum_n \|\nabla_{x_n} D(x_n)\|^2$ on the real samples
    (R1, Mescheder et al. 2018). A conditional GAN takes neither (the penalty would include the
    label channels' gradients).

    **Options.** One-sided label smoothing (real targets $1 - s$, fake targets stay 0, Salimans
    et al. 2016). Packing (PacGAN, Lin et al. 2018): D judges $m$ = `pack` samples at once,
    concatenated along the feature/channel axis (`pack_samples`), so it compares the joint
    distributions of $m$ independent samples, $p_\text{data}^{\otimes m}$ against $p_g^{\otimes m}$,
    which makes a collapsed generator easy to spot: $m$ fakes from one mode look alike, $m$
    real samples rarely do. Normal or uniform noise.
    """

    name = "gan"
    options = ("loss", "d_steps", "pack", "label_smoothing", "gp", "r1", "conditional")
    uses_discriminator = True
    data_parallel = True

    def __init__(self, generator, discriminator, latent_dim: int, loss="non_saturating",
                 d_steps: int = 1, label_smoothing: float = 0.0, pack: int = 1,
                 noise: str = "normal", lr: float = 1e-3, betas=(0.5, 0.999),
                 g_optimizer=None, d_optimizer=None, gp: float = 0.0, r1: float = 0.0,
                 num_classes: int = 0):
        super().__init__(generator, latent_dim, noise)
        if num_classes < 0 or (num_classes and (gp or r1)):
            raise ValueError("num_classes must be >= 0, and a conditional GAN takes no gradient penalty "
                             "(the penalty would include the label channels' gradients)")
        self.num_classes = int(num_classes)
        if d_steps < 1 or pack < 1:
            raise ValueError(f"d_steps and pack must be >= 1, got {d_steps} and {pack}")
        if gp < 0 or r1 < 0:
            raise ValueError(f"the penalty weights gp and r1 must be >= 0, got {gp} and {r1}")
        reason = discriminator.second_order_refusal() if (gp or r1) else None
        if reason is not None:
            raise ValueError(f"GANTrainer: a gradient penalty needs a critic with a second-order "
                             f"pass: {reason}")
        self.gp, self.r1 = float(gp), float(r1)
        self.discriminator = discriminator
        self.loss = make_loss(loss, label_smoothing=label_smoothing)
        self.d_steps, self.pack = int(d_steps), int(pack)
        self.g_opt = g_optimizer or Adam(generator.parameters(), lr=lr, betas=betas)
        self.d_opt = d_optimizer or Adam(discriminator.parameters(), lr=lr, betas=betas)

    def rows_per_step(self, batch_size: int) -> int:
        return batch_size * self.d_steps  # a fresh real minibatch for each D step

    def _parts(self):
        return [("G", self.generator), ("D", self.discriminator),
                ("opt_g", self.g_opt), ("opt_d", self.d_opt)]

    def _d_out(self, x, labels=None):
        if self.num_classes:
            x = with_labels(x, labels, self.num_classes)
        return self.discriminator.forward(pack_samples(x, self.pack), training=True)

    def _labels(self, labels, n: int):
        if self.num_classes and labels is None:
            raise ValueError(f"GANTrainer: a conditional GAN ({self.num_classes} classes) needs the "
                             f"real samples' labels")
        return labels

    def discriminator_gradients(self, real, z=None, labels=None) -> dict:
        r"""$L_D$ (the loss on D's outputs for both batches, plus any penalty) and its gradients in D's `.grad` (zeroed first).

        Conditional: the fakes get the real samples' `labels`.
        """
        D, G = self.discriminator, self.generator
        labels = self._labels(labels, real.shape[0])
        z = self.draw_rows(self.sample_noise, real.shape[0]) if z is None else z
        fake = G.forward(self.generator_input(z, labels), training=True)
        D.zero_grad()
        with data_input(D):  # D's input gradient is not needed here: G is not being updated
            passes = self._joint_passes if self.loss.joint else self._separate_passes
            d_loss, out_real, out_fake = passes(real, fake, labels)
        stats = {"d_loss": d_loss, "d_real": self.loss.probability(out_real).mean(),
                 "d_fake": self.loss.probability(out_fake).mean()}
        self._penalties(real, fake, stats)
        return stats

    def _separate_passes(self, real, fake, labels):
        """A separable loss: each of D's passes is backpropagated right after it ran (the layers cache one pass)."""
        D = self.discriminator
        out_real = self._d_out(real, labels)
        loss_real, g = self.loss.discriminator_real(out_real)
        D.backward(g)
        out_fake = self._d_out(fake, labels)
        loss_fake, g = self.loss.discriminator_fake(out_fake)
        D.backward(g)  # adds to the real pass's gradients
        return loss_real + loss_fake, out_real, out_fake

    def _joint_passes(self, real, fake, labels):
        """A joint loss needs both of D's outputs before either gradient: the real pass is run
        again for its backward, from the random state and buffers it first started from, so
        that it is the same pass; D then holds the buffers and the random state that the two
        passes left, as in `_separate_passes`."""
        D = self.discriminator
        start = (B.get_rng_state(), _buffers(D))
        out_real = self._d_out(real, labels)
        out_fake = self._d_out(fake, labels)
        d_loss, g_real, g_fake = self.loss.discriminator(out_real, out_fake)
        D.backward(g_fake)  # the fake pass is the one D's layers hold
        end = (B.get_rng_state(), _buffers(D))
        _set_state(D, *start)
        self._d_out(real, labels)
        D.backward(g_real)  # adds to the fake pass's gradients
        _set_state(D, *end)
        return d_loss, out_real, out_fake

    def _penalties(self, real, fake, stats) -> None:
        """Add the gradient penalties' values to `stats` (and $L_D$) and their gradients to D."""
        if self.gp:
            # one mixing weight per sample
            e = self.draw_rows(lambda n: B.uniform((n,) + (1,) * (real.ndim - 1)), real.shape[0])
            mixed = pack_samples(e * real + (1 - e) * fake, self.pack)
            stats["gp"] = gradient_penalty(self.discriminator, mixed, target=1.0, weight=self.gp)
            stats["d_loss"] = stats["d_loss"] + self.gp * stats["gp"]
        if self.r1:
            stats["r1"] = gradient_penalty(self.discriminator, pack_samples(real, self.pack),
                                           target=0.0, weight=self.r1 / 2)
            stats["d_loss"] = stats["d_loss"] + (self.r1 / 2) * stats["r1"]

    def discriminator_step(self, real, labels=None) -> dict:
        """One update of D on a real minibatch and as many fakes: minimise $L_D$ (the gradients
        averaged over the ranks of a data-parallel run first)."""
        stats = self.discriminator_gradients(real, labels=labels)
        average_gradients(self.discriminator, self.comm)
        stats["d_grad_norm"] = grad_norm(self.discriminator.parameters())
        self.d_opt.step()
        return stats

    def generator_gradients(self, real, z=None, labels=None):
        r"""$L_G$ on as many fakes as `real` has rows, and its gradients in G's `.grad` (zeroed first).

        A separable loss's G loss sees the fakes alone, and only the size of `real` is used; a
        joint loss is also given D's outputs on `real`, constants for G (D's pass on them is
        not backpropagated). The gradient flows *through* D to $G(z)$, but D is frozen on the
        way: its weight gradients are not computed (G's update does not use them) and its
        `.grad` is left as it was. Conditional: without `labels`, the fakes are drawn for
        every class, in random order; a joint loss needs the real samples' `labels`, which
        the fakes then take, as in D's step.
        """
        D, G = self.discriminator, self.generator
        G.zero_grad()
        n = real.shape[0]
        z = self.draw_rows(self.sample_noise, n) if z is None else z
        if self.num_classes and labels is None:
            if self.loss.joint:
                raise ValueError(f"GANTrainer: the {self.loss.name} loss compares each fake with a real "
                                 f"sample, so G's step needs the real samples' labels")
            labels = self.draw_rows(lambda k: B.permutation(k) % self.num_classes, n)  # every class, in random order
        fake = G.forward(self.generator_input(z, labels), training=True)
        if self.loss.joint:  # D's pass on the real batch first: the fake pass is the one backpropagated
            out_real = self._d_out(real, labels)
            g_loss, g = self.loss.generator(self._d_out(fake, labels), out_real)
        else:
            g_loss, g = self.loss.generator(self._d_out(fake, labels))
        with frozen(D):
            grad_in = D.backward(g)
        shape = (n, fake.shape[1] + self.num_classes) + tuple(fake.shape[2:])
        grad_fake = without_labels(unpack_grad(grad_in, shape), fake.shape[1])  # dL_G / dG(z)
        G.backward(grad_fake)
        return g_loss

    def generator_step(self, real, labels=None) -> dict:
        """One update of G through a fixed D (as many fakes as `real` has rows; `labels`: the
        real samples', which a conditional GAN with a joint loss needs)."""
        g_loss = self.generator_gradients(real, labels=labels if self.loss.joint else None)
        average_gradients(self.generator, self.comm)
        norm = grad_norm(self.generator.parameters())
        self.g_opt.step()
        return {"g_loss": g_loss, "g_grad_norm": norm}

    def train_step(self, real_batch, labels=None) -> dict:
        r"""$k$ = `d_steps` discriminator updates, then one generator update.

        `real_batch` holds the $k$ real minibatches of $N$ rows stacked, shape $(kN, \dots)$:
        D step $i$ uses rows $[iN, (i+1)N)$, and $N$ must be a multiple of `pack`. In a
        data-parallel run every rank receives the whole of `real_batch` and trains on its shard
        of each minibatch (`npgan.parallel`); the figures are then means over the ranks. Returns the
        step's figures: `d_loss` ($L_D$ on the last D step; $-V$ for the cross-entropy
        losses), `g_loss`, `d_real` = mean $D(x)$, `d_fake` = mean $D(G(z))$, and the gradient
        norms of both networks.
        """
        B.check_array(real_batch, "GANTrainer.train_step")
        n = real_batch.shape[0]
        if n % self.d_steps or (n // self.d_steps) % self.pack:
            raise ValueError(f"GANTrainer.train_step: a real batch of {n} rows cannot be split into "
                             f"d_steps={self.d_steps} minibatches whose size is a multiple of "
                             f"pack={self.pack}")
        m = n // self.d_steps
        labels = self._labels(labels, n)
        minibatch = lambda a, i: None if a is None else self.shard(a[i * m:(i + 1) * m])  # noqa: E731
        for i in range(self.d_steps):
            stats = self.discriminator_step(minibatch(real_batch, i), labels=minibatch(labels, i))
        stats.update(self.generator_step(minibatch(real_batch, 0), labels=minibatch(labels, 0)))
        self.step += 1
        stats = mean_over_ranks(stats, self.comm)
        stats["step"] = self.step
        return stats
