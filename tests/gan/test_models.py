import math

import pytest

from npgan import backend as B
from npgan.gan import GANTrainer, dcgan28_discriminator, dcgan28_generator, mlp_discriminator, mlp_generator

from helpers import assert_grads_ok


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
    gan = GANTrainer(dcgan28_generator(8, width=2), dcgan28_discriminator(width=2, in_channels=2), 8, pack=2)
    assert math.isfinite(gan.train_step(B.uniform((4, 1, 28, 28), -1, 1))["d_loss"])


@pytest.mark.parametrize("bn", [False, True])
def test_mlp_builders(backend_name, bn):
    G, D = mlp_generator(3, 2, 8, 2, batchnorm=bn), mlp_discriminator(2, 8, 2)
    assert D(G(B.normal((5, 3)))).shape == (5, 1)
