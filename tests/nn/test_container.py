import numpy as np
import pytest

from helpers import assert_grads_ok
from npgan import backend as B
from npgan import nn


def dcgan_like_generator(z=4):
    # no bias before a BatchNorm (as in DCGAN): BN subtracts the channel mean, so such a
    # bias has gradient exactly 0, and the relative error of a zero is rounding noise
    return nn.Sequential(
        nn.Dense(z, 4 * 2 * 2), nn.Reshape((4, 2, 2)), nn.BatchNorm(4), nn.ReLU(),
        nn.ConvTranspose2D(4, 3, 4, stride=2, padding=1, bias=False), nn.BatchNorm(3), nn.LeakyReLU(0.2),
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
    assert len(g.parameters()) == 9  # the ConvTranspose2D before a BatchNorm has no bias
    g.backward(B.get_backend().ones_like(g(B.normal((2, 4)))))
    assert any(float(abs(p.grad).sum()) > 0 for p in g.parameters())
    g.zero_grad()
    assert all(float(abs(p.grad).sum()) == 0 for p in g.parameters())
    with pytest.raises(TypeError, match="item 1 is int"):
        nn.Sequential(nn.ReLU(), 3)


@pytest.mark.parametrize("first", ["Conv2D", "Dense", "Flatten"])
def test_data_input_skips_the_first_layers_input_gradient_only(f64, first, monkeypatch):
    """Under ``data_input`` the network's backward returns None, its parameter gradients
    are exactly those of the full backward pass, and no layer with parameters computes an
    input gradient that only the network's input would receive (a Flatten in front of the
    first Dense, as in the MLP image discriminator, included)."""
    if first == "Conv2D":
        net, x = small_discriminator(), B.normal((3, 1, 8, 8))
    elif first == "Dense":
        net, x = nn.Sequential(nn.Dense(5, 4), nn.LeakyReLU(0.2), nn.Dense(4, 1)), B.normal((3, 5))
    else:
        net = nn.Sequential(nn.Flatten(), nn.Dense(8, 4), nn.LeakyReLU(0.2), nn.Dense(4, 1))
        x = B.normal((3, 2, 2, 2))
    first_with_params = next(layer for layer in net.layers if layer.parameters())
    computed = []
    original = type(first_with_params).backward

    def spy(self, grad_out):
        out = original(self, grad_out)
        if self is first_with_params:
            computed.append(out is not None)
        return out

    monkeypatch.setattr(type(first_with_params), "backward", spy)
    for layer in net.layers:
        if isinstance(layer, nn.Dropout):
            layer.p = 0.0  # same forward twice
    g = B.normal(net.forward(x).shape)
    assert net.backward(g) is not None
    full = [B.to_numpy(p.grad).copy() for p in net.parameters()]
    net.zero_grad()
    net.forward(x)
    with nn.data_input(net):
        assert net.backward(g) is None
    assert computed == [True, False]  # dL/dx computed in the full pass only
    assert all(layer.input_grad for layer in net.layers)  # restored
    for a, p in zip(full, net.parameters()):
        np.testing.assert_array_equal(B.to_numpy(p.grad), a)
