import math

import numpy as np
import pytest

from helpers import assert_grads_ok
from npgan import backend as B
from npgan.gan import GANTrainer, dcgan28_discriminator, dcgan28_generator, mlp_discriminator, mlp_generator


def test_dcgan28_shapes(backend_name):
    G, D = dcgan28_generator(100), dcgan28_discriminator()
    x = G(B.normal((3, 100)))
    assert x.shape == (3, 1, 28, 28)
    assert float(abs(x).max()) <= 1.0  # Tanh output
    assert D(x).shape == (3, 1)
    assert G[0].weight.shape == (100, 128 * 7 * 7) and G[4].weight.shape == (128, 64, 4, 4)
    assert D[0].weight.shape == (64, 1, 4, 4) and D[2].weight.shape == (128, 64, 4, 4)


def test_dcgan28_gradients_at_small_width(f64):
    assert_grads_ok(dcgan28_generator(latent_dim=3, width=2), B.normal((2, 3)), max_checks=40)
    assert_grads_ok(dcgan28_discriminator(width=2), B.normal((2, 1, 28, 28)), max_checks=40)


def test_dcgan_trains_one_step_on_images(backend_name):
    B.seed(0)
    gan = GANTrainer(dcgan28_generator(16, width=4), dcgan28_discriminator(width=4), 16, lr=2e-4)
    stats = gan.train_step(B.uniform((8, 1, 28, 28), -1, 1))
    assert all(math.isfinite(stats[k]) for k in ("d_loss", "g_loss", "g_grad_norm", "d_grad_norm"))


def test_packed_images_concatenate_channels(backend_name):
    """PacGAN on images: m consecutive images become the m channels of one packed sample
    (sample i's channels at [i*C, (i+1)*C)), D sees N/m samples, and the gradient goes back
    to each image through the adjoint reshape."""
    from npgan.gan.adversarial import pack_samples, unpack_grad
    x = B.uniform((4, 1, 28, 28), -1, 1)
    packed = pack_samples(x, 2)
    assert packed.shape == (2, 2, 28, 28)
    for i in range(4):
        np.testing.assert_array_equal(B.to_numpy(packed[i // 2, i % 2]), B.to_numpy(x[i, 0]))
    g = B.normal(packed.shape)  # the adjoint: <pack(x), g> = <x, unpack(g)>
    assert abs(float((packed * g).sum()) - float((x * unpack_grad(g, x.shape)).sum())) < 1e-3
    D = dcgan28_discriminator(width=2, in_channels=2)
    gan = GANTrainer(dcgan28_generator(8, width=2), D, 8, pack=2)
    seen = []
    first = D[0]
    forward = first.forward
    first.forward = lambda inp, training=None: seen.append(inp.shape) or forward(inp, training)
    stats = gan.train_step(x)
    assert seen[0] == (2, 2, 28, 28) and all(s[0] == 2 and s[1] == 2 for s in seen)
    assert math.isfinite(stats["d_loss"]) and stats["g_grad_norm"] > 0


@pytest.mark.parametrize("bn", [False, True])
def test_mlp_builders(backend_name, bn):
    G, D = mlp_generator(3, 2, 8, 2, batchnorm=bn), mlp_discriminator(2, 8, 2)
    assert D(G(B.normal((5, 3)))).shape == (5, 1)


def test_spectral_dcgan_critic_builds_from_a_config(f64):
    from types import SimpleNamespace

    from npgan import nn
    from npgan.gan.config import make_config
    from npgan.gan.models import build_networks
    cfg = make_config(data="fashion-mnist", d_norm="spectral", width=2, latent_dim=4)
    _, D = build_networks(cfg, SimpleNamespace(shape=(1, 28, 28)))
    kinds = [type(layer) for layer in D.layers]
    assert kinds.count(nn.SpectralNorm) == 3 and not {nn.BatchNorm, nn.LayerNorm} & set(kinds)
    assert D.second_order_refusal() is None
    x = B.normal((2, 1, 28, 28))
    D.forward(x)  # one power-iteration step; evaluation mode then holds u fixed for the check
    assert_grads_ok(D, x, training=False, max_checks=40)


@pytest.mark.parametrize("gp", [0.0, 10.0])
def test_spectral_dcgan_trains_on_fashion_images(tmp_path, monkeypatch, gp):
    from helpers import synthetic_fashion
    from npgan.gan.config import make_config
    from npgan.gan.runner import train
    monkeypatch.setenv("NPGAN_HOME", str(tmp_path / "home"))  # no classifier: no FD, a note instead
    (tmp_path / "fashion").mkdir()
    folder = synthetic_fashion(tmp_path / "fashion", n_train=64, n_test=16)
    cfg = make_config(data="fashion-mnist", data_dir=str(folder), d_norm="spectral", gp=gp, width=4,
                      batch_size=8, latent_dim=8, steps=2, log_every=2, classifier=None)
    final = train(cfg, tmp_path / "run", progress=False, plots=False, log=lambda m: None)
    assert final["step"] == 2 and math.isfinite(final["d_loss"])
    saved = np.load(tmp_path / "run" / "checkpoint.npz")
    assert sum(k.endswith(".u") for k in saved.files) == 3  # the power iteration's u is checkpointed
