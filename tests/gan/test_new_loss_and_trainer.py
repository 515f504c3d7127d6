"""The guide's recipes (docs/guides/extending.md), followed to the letter: a GAN loss and a
trainer added as one registered class each are found by the command line and the config,
and pass the generic checks that every registered loss and trainer passes; a toy that is
wrong in one place fails them."""

import math

import pytest

from helpers import (
    assert_gan_loss_closed_form,
    assert_gan_loss_equilibrium,
    assert_gan_loss_gradients,
    assert_loss_gradients_through_the_trainer,
    assert_trainer_gradients,
    assert_trainer_resumes_exactly,
    assert_trainer_trains,
)
from npgan import backend as B
from npgan.cli import _parser
from npgan.gan import GAN_LOSSES, TRAINERS, GANLoss, Trainer, make_loss, register_loss, register_trainer
from npgan.gan.config import make_config
from npgan.gan.runner import build
from npgan.optim import SGD


@pytest.fixture
def registered():
    """Register classes for the length of one test, then restore the registries."""
    before = dict(GAN_LOSSES), dict(TRAINERS)
    yield
    GAN_LOSSES.clear(), GAN_LOSSES.update(before[0])
    TRAINERS.clear(), TRAINERS.update(before[1])


class ExponentialToy(GANLoss):
    r"""A separable toy loss on D's raw output, means over the batch.

    $L_D = \overline{e^{-D(x)}} + \overline{e^{D(G(z))}}$ and $L_G = \overline{e^{-D(G(z))}}$, with
    gradients $-e^{-D(x_n)}/N$, $e^{D(G(z_n))}/N$ and $-e^{-D(G(z_n))}/N$. Where
    $p_g = p_\text{data}$ the optimal D minimises $e^{-c} + e^{c}$: $c = 0$, $L_D = 2$, $L_G = 1$.
    """

    name = "exponential_toy"

    def discriminator_real(self, out):
        e = B.get_backend().exp(-out)
        return e.mean(), -e / out.size

    def discriminator_fake(self, out):
        e = B.get_backend().exp(out)
        return e.mean(), e / out.size

    def generator(self, out):
        e = B.get_backend().exp(-out)
        return e.mean(), -e / out.size

    def closed_form(self, real_out, fake_out):
        return {"d_loss": math.exp(-real_out) + math.exp(fake_out), "g_loss": math.exp(-fake_out)}

    def probability(self, out):
        return out

    def equilibrium(self):
        return {"d_loss": (2.0, "2 (D = 0)"), "g_loss": (1.0, "1 (D = 0)"),
                "d_real": (0.0, "0"), "d_fake": (0.0, "0")}

    def equilibrium_outputs(self):
        return (0.0,)


class MarginToy(GANLoss):
    r"""A joint toy loss on the pairs' differences $\Delta_n = D(x_n) - D(G(z_n))$.

    $L_D = \frac1{2N}\sum_n (\Delta_n - 1)^2$ and $L_G = \frac1{2N}\sum_n \Delta_n^2$;
    $\partial L_D/\partial D(x_n) = (\Delta_n - 1)/N = -\partial L_D/\partial D(G(z_n))$ and
    $\partial L_G/\partial D(G(z_n)) = -\Delta_n/N$. Where $p_g = p_\text{data}$, $\Delta$ is
    symmetric and $\mathbb E(\Delta - 1)^2/2 = (\mathbb E\Delta^2 + 1)/2 \ge 1/2$, equal for a
    constant D: $L_D = 1/2$, $L_G = 0$, at any level.
    """

    name = "margin_toy"
    joint = True

    def discriminator(self, real_out, fake_out):
        d = real_out - fake_out - 1.0
        return 0.5 * (d * d).mean(), d / d.size, -d / d.size

    def generator(self, fake_out, real_out=None):
        d = real_out - fake_out
        return 0.5 * (d * d).mean(), -d / d.size

    def closed_form(self, real_out, fake_out):
        return {"d_loss": (real_out - fake_out - 1.0) ** 2 / 2, "g_loss": (real_out - fake_out) ** 2 / 2}

    def probability(self, out):
        return out

    def equilibrium(self):
        return {"d_loss": (0.5, "1/2 (D constant)"), "g_loss": (0.0, "0 (D constant)")}

    def equilibrium_outputs(self):
        return (-1.0, 0.0, 2.0)


def _run_the_generic_loss_checks(loss):
    assert_gan_loss_gradients(loss, B.normal((5, 1)) * 2, B.normal((5, 1)) * 2)
    assert_gan_loss_closed_form(loss)
    assert_gan_loss_equilibrium(loss)
    for pack in (1, 2):
        assert_loss_gradients_through_the_trainer(loss.name, pack)


@pytest.mark.parametrize("toy", [ExponentialToy, MarginToy], ids=lambda c: c.name)
def test_a_loss_added_as_the_guide_says_passes_the_generic_checks_and_trains(registered, f64, toy):
    register_loss(toy)
    with pytest.raises(ValueError, match="needs a new, non-empty name"):
        register_loss(toy)
    assert toy.name in _parser().parse_args(["train", "--loss", toy.name]).loss
    _run_the_generic_loss_checks(make_loss(toy.name))
    cfg = make_config(data="ring8", loss=toy.name, hidden=16, depth=1, batch_size=32, lr=1e-2, latent_dim=2)
    trainer, ds = build(cfg)
    assert isinstance(trainer.loss, toy)
    for _ in range(50):
        stats = trainer.discriminator_step(ds.sample(cfg["batch_size"]))
    assert stats["d_real"] > stats["d_fake"] + 0.5  # D learned to score the real samples higher: our class ran
    assert_trainer_trains(trainer, ds, batch_size=cfg["batch_size"])


class WrongGeneratorGradient(ExponentialToy):
    name = "wrong_gradient_toy"

    def generator(self, out):
        value, grad = super().generator(out)
        return value, -grad  # the sign slip: G would climb its loss


class WrongJointGradient(MarginToy):
    name = "wrong_joint_toy"

    def discriminator(self, real_out, fake_out):
        value, grad_real, grad_fake = super().discriminator(real_out, fake_out)
        return value, grad_real, grad_real  # as if dDelta/dD(G(z)) were +1


class WrongClosedForm(ExponentialToy):
    name = "wrong_closed_form_toy"

    def closed_form(self, real_out, fake_out):
        return {"d_loss": math.exp(-real_out) + math.exp(-fake_out), "g_loss": math.exp(-fake_out)}


class WrongEquilibrium(ExponentialToy):
    name = "wrong_equilibrium_toy"

    def equilibrium_outputs(self):
        return (0.5,)  # not D's optimum, and the lines do not hold there


@pytest.mark.parametrize("toy", [WrongGeneratorGradient, WrongJointGradient], ids=lambda c: c.name)
def test_a_loss_with_a_wrong_gradient_fails_the_generic_checks(registered, f64, toy):
    register_loss(toy)
    loss = make_loss(toy.name)
    with pytest.raises(AssertionError, match="max rel err"):
        assert_gan_loss_gradients(loss, B.normal((5, 1)), B.normal((5, 1)))
    with pytest.raises(AssertionError, match="FAIL"):
        assert_loss_gradients_through_the_trainer(toy.name)


def test_a_loss_whose_closed_form_or_equilibrium_is_wrong_fails_the_generic_checks(registered, f64):
    with pytest.raises(AssertionError, match="by closed_form"):
        assert_gan_loss_closed_form(WrongClosedForm())
    with pytest.raises(AssertionError, match="at D = 0.5"):
        assert_gan_loss_equilibrium(WrongEquilibrium())


class MeanMatching(Trainer):
    """A toy trainer: G matches the data's mean, L = ||mean G(z) - mean x||^2, by SGD; no discriminator."""

    name = "mean_toy"
    defaults = {"lr": 0.05}
    options = ()
    for_images = False

    def __init__(self, generator, latent_dim, noise="normal", lr=0.05, g_optimizer=None):
        super().__init__(generator, latent_dim, noise)
        self.g_opt = g_optimizer or SGD(generator.parameters(), lr=lr)

    def _parts(self):
        return [("G", self.generator), ("opt_g", self.g_opt)]

    def generator_gradients(self, real, z=None):
        G = self.generator
        G.zero_grad()
        z = self.sample_noise(real.shape[0]) if z is None else z
        fake = G.forward(z, training=True)
        diff = fake.mean(axis=0) - real.mean(axis=0)
        G.backward(B.get_backend().ones_like(fake) * (2 * diff / fake.shape[0]))  # dL/dG(z_n) = 2 diff / N
        return (diff * diff).sum()

    def train_step(self, real_batch):
        gap = self.generator_gradients(real_batch)
        self.g_opt.step()
        self.step += 1
        return {"step": self.step, "gap": float(gap)}


class ForgetsTheTwo(MeanMatching):
    name = "wrong_mean_toy"

    def generator_gradients(self, real, z=None):
        G = self.generator
        G.zero_grad()
        z = self.sample_noise(real.shape[0]) if z is None else z
        fake = G.forward(z, training=True)
        diff = fake.mean(axis=0) - real.mean(axis=0)
        G.backward(B.get_backend().ones_like(fake) * (diff / fake.shape[0]))  # half the gradient
        return (diff * diff).sum()


def _toy_config(name):
    return make_config(data="gauss1d", trainer=name, hidden=8, depth=1, batch_size=16, latent_dim=2,
                       dtype=B.get_dtype().name)  # the test's dtype: building a run sets its config's


def test_a_trainer_added_as_the_guide_says_passes_the_generic_checks(registered, f64, tmp_path):
    register_trainer(MeanMatching)
    assert _parser().parse_args(["train", "--trainer", "mean_toy"]).trainer == "mean_toy"
    cfg = _toy_config("mean_toy")
    assert cfg["lr"] == 0.05  # the trainer's own default
    with pytest.raises(ValueError, match="option 'd_steps' is not used by the mean_toy trainer"):
        make_config(data="gauss1d", trainer="mean_toy", d_steps=3)
    trainer, ds = build(cfg)
    assert isinstance(trainer, MeanMatching)
    assert_trainer_gradients(trainer, ds.sample(6), trainer.sample_noise(6))
    assert_trainer_trains(trainer, ds)
    assert_trainer_resumes_exactly(cfg, tmp_path)
    trainer, ds = build(cfg)
    gaps = [trainer.train_step(ds.sample(64))["gap"] for _ in range(200)]
    assert sum(gaps[-10:]) < 0.01 * sum(gaps[:10])  # its own promise: the means meet


def test_a_trainer_with_a_wrong_gradient_fails_the_generic_checks(registered, f64):
    register_trainer(ForgetsTheTwo)
    trainer, ds = build(_toy_config("wrong_mean_toy"))
    with pytest.raises(AssertionError, match="FAIL"):
        assert_trainer_gradients(trainer, ds.sample(6), trainer.sample_noise(6))
