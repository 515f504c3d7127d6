"""The shape of the code: short functions, and extension points that need one class each."""

import ast
import pathlib

import pytest

import npgan
from npgan import backend as B
from npgan.cli import _parser
from npgan.gan import GAN_LOSSES, TRAINERS, GANLoss, Trainer, register_loss, register_trainer
from npgan.gan.config import make_config
from npgan.gan.runner import build
from npgan.losses import sigmoid_cross_entropy

PKG = pathlib.Path(npgan.__file__).parent
MAX_LINES = 50


def _code_lines(node) -> int:
    """A function's length without its docstring: a derivation may be as long as it needs."""
    n = node.end_lineno - node.lineno + 1
    first = node.body[0] if node.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        n -= first.end_lineno - first.lineno + 1
    return n


def test_no_function_in_the_package_is_longer_than_50_lines():
    long = []
    for path in sorted(PKG.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = _code_lines(node)
                if n > MAX_LINES:
                    long.append(f"{path.relative_to(PKG.parent)}:{node.lineno} {node.name} ({n} lines)")
    assert long == []


@pytest.fixture
def registered():
    """Register classes for the length of one test, then restore the registries."""
    before = dict(GAN_LOSSES), dict(TRAINERS)
    yield
    GAN_LOSSES.clear(), GAN_LOSSES.update(before[0])
    TRAINERS.clear(), TRAINERS.update(before[1])


def test_a_new_gan_loss_is_one_registered_class(registered, tmp_path):
    @register_loss
    class Reversed(GANLoss):
        """A toy loss for this test: D learns to call the fakes real."""
        name = "reversed_toy"

        def discriminator_real(self, out):
            return sigmoid_cross_entropy(out, 0.0)

        def discriminator_fake(self, out):
            return sigmoid_cross_entropy(out, 1.0)

        def generator(self, out):
            return sigmoid_cross_entropy(out, 0.0)

    assert "reversed_toy" in _parser().parse_args(["train", "--loss", "reversed_toy"]).loss
    cfg = make_config(data="ring8", loss="reversed_toy", hidden=16, depth=1, batch_size=32, lr=1e-2)
    trainer, ds = build(cfg)
    assert isinstance(trainer.loss, Reversed)
    for _ in range(100):
        stats = trainer.discriminator_step(ds.sample(cfg["batch_size"]))
    assert stats["d_fake"] > stats["d_real"]  # D learned the reversed game: our class ran
    assert "g_loss" in trainer.train_step(ds.sample(trainer.rows_per_step(cfg["batch_size"])))
    with pytest.raises(ValueError, match="needs a new, non-empty name"):
        register_loss(Reversed)


def test_a_new_trainer_is_one_registered_class(registered):
    @register_trainer
    class MeanMatching(Trainer):
        """A toy trainer for this test: G matches the data's mean, no discriminator."""
        name = "mean_toy"
        defaults = {"lr": 0.05}
        options = ()
        for_images = False

        def __init__(self, generator, latent_dim, noise="normal", lr=0.05):
            super().__init__(generator, latent_dim, noise)
            from npgan.optim import SGD
            self.g_opt = SGD(generator.parameters(), lr=lr)

        @classmethod
        def from_config(cls, cfg, generator, discriminator=None):
            assert discriminator is None  # uses_discriminator is False: none is built
            return cls(generator, cfg["latent_dim"], cfg["noise"], cfg["lr"])

        def _parts(self):
            return [("G", self.generator), ("opt_g", self.g_opt)]

        def train_step(self, real_batch):
            G = self.generator
            G.zero_grad()
            fake = G.forward(self.sample_noise(real_batch.shape[0]), training=True)
            diff = fake.mean(axis=0) - real_batch.mean(axis=0)       # L = ||mean diff||^2
            G.backward(B.get_backend().ones_like(fake) * (2 * diff / fake.shape[0]))
            self.g_opt.step()
            self.step += 1
            return {"step": self.step, "gap": float((diff * diff).sum())}

    assert _parser().parse_args(["train", "--trainer", "mean_toy"]).trainer == "mean_toy"
    cfg = make_config(data="gauss1d", trainer="mean_toy", hidden=8, depth=1, batch_size=64)
    assert cfg["lr"] == 0.05  # the trainer's own default
    trainer, ds = build(cfg)
    gaps = [trainer.train_step(ds.sample(64))["gap"] for _ in range(200)]
    assert sum(gaps[-10:]) < 0.01 * sum(gaps[:10])
    with pytest.raises(ValueError, match="option 'd_steps' is not used by the mean_toy trainer"):
        make_config(data="gauss1d", trainer="mean_toy", d_steps=3)
