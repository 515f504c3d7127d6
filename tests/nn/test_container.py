import numpy as np
import pytest

from npgan import backend as B
from npgan import nn

from helpers import assert_grads_ok


def dcgan_like_generator(z=4):
    return nn.Sequential(
        nn.Dense(z, 4 * 2 * 2), nn.Reshape((4, 2, 2)), nn.BatchNorm(4), nn.ReLU(),
        nn.ConvTranspose2D(4, 3, 4, stride=2, padding=1), nn.BatchNorm(3), nn.LeakyReLU(0.2),
        nn.ConvTranspose2D(3, 1, 3, stride=2, padding=1, output_padding=1), nn.Tanh())


def small_discriminator():
    return nn.Sequential(
        nn.Conv2D(1, 3, 3, stride=2, padding=1), nn.LeakyReLU(0.2), nn.Dropout(0.3),
        nn.Conv2D(3, 4, 3, stride=2, padding=1), nn.BatchNorm(4), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Dense(16, 1), nn.Sigmoid())


def test_generator_stack_gradients(f64):
    g = dcgan_like_generator()
    x = B.normal((3, 4))
    assert g(x).shape == (3, 1, 8, 8)
    assert_grads_ok(g, x, max_checks=60)


def test_discriminator_stack_gradients(f64):
    d = small_discriminator()
    x = B.normal((3, 1, 8, 8))
    assert d(x).shape == (3, 1)
    assert_grads_ok(d, x, max_checks=60)


def test_parameter_names_and_zero_grad(backend_name):
    g = dcgan_like_generator()
    names = [n for n, _ in g.named_parameters()]
    assert names[:4] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(g.parameters()) == 10
    g.backward(B.get_backend().ones_like(g(B.normal((2, 4)))))
    assert any(float(abs(p.grad).sum()) > 0 for p in g.parameters())
    g.zero_grad()
    assert all(float(abs(p.grad).sum()) == 0 for p in g.parameters())
    with pytest.raises(TypeError, match="item 1 is int"):
        nn.Sequential(nn.ReLU(), 3)
