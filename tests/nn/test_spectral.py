"""SpectralNorm: gradient checks (u held fixed in evaluation mode), PyTorch agreement, sigma
against an SVD, persistence of u, refusal of unsupported layers."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from helpers import assert_double_grads_ok, assert_grads_ok
from npgan import backend as B
from npgan import nn


@st.composite
def wrapped_config(draw):
    """A Dense, Conv2D (strides, paddings) or ConvTranspose2D (output_padding) and its input shape."""
    kind = draw(st.sampled_from(["dense", "conv", "convT"]))
    n, c, o = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    if kind == "dense":
        return dict(kind=kind, c=c, o=o, shape=(n, c))
    k, s, p = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(0, 2))
    cfg = dict(kind=kind, c=c, o=o, k=k, s=s, p=p, bias=draw(st.booleans()))
    if kind == "conv":
        h, w = (draw(st.integers(max(1, k - 2 * p), k - 2 * p + 5)) for _ in range(2))
    else:
        cfg["op"] = draw(st.integers(0, s - 1))
        h, w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        assume(min(h, w) - 1 >= 0 and (min(h, w) - 1) * s - 2 * p + k + cfg["op"] >= 1)
    cfg["shape"] = (n, c, h, w)
    return cfg


def build(cfg):
    if cfg["kind"] == "dense":
        return nn.Dense(cfg["c"], cfg["o"])
    if cfg["kind"] == "conv":
        return nn.Conv2D(cfg["c"], cfg["o"], cfg["k"], cfg["s"], cfg["p"], bias=cfg["bias"])
    return nn.ConvTranspose2D(cfg["c"], cfg["o"], cfg["k"], cfg["s"], cfg["p"], cfg["op"], bias=cfg["bias"])


@settings(max_examples=40)
@given(cfg=wrapped_config())
def test_gradients_with_u_fixed(f64, cfg):
    """Evaluation mode holds u fixed; there sigma = ||M^T u|| and the constant-u, v gradient is exact."""
    sn = nn.SpectralNorm(build(cfg))
    sn.forward(B.normal(cfg["shape"]))  # one power-iteration step, so u is not the initial draw
    sn.eval()
    x = B.normal(cfg["shape"])
    assert_grads_ok(sn, x, training=False)
    assert_double_grads_ok(sn, x, training=False)


def test_critic_with_spectral_norm_has_a_second_order_pass(f64):
    D = nn.Sequential(nn.SpectralNorm(nn.Conv2D(2, 3, 3, stride=2, padding=1)), nn.LeakyReLU(0.2),
                      nn.Flatten(), nn.SpectralNorm(nn.Dense(3 * 3 * 3, 1)))
    assert D.second_order_refusal() is None
    x = B.normal((2, 2, 5, 5))
    D.forward(x)
    D.eval()
    assert_grads_ok(D, x, training=False)
    assert_double_grads_ok(D, x, training=False)


def test_power_iteration_runs_only_in_training_mode(f64):
    sn = nn.SpectralNorm(nn.Conv2D(3, 4, 3))
    x = B.normal((2, 3, 5, 5))
    u0 = B.to_numpy(sn.u, copy=True)
    sn.forward(x, training=False)
    np.testing.assert_array_equal(B.to_numpy(sn.u), u0)
    sn.forward(x)
    u1 = B.to_numpy(sn.u, copy=True)
    assert not np.allclose(u1, u0) and abs(np.linalg.norm(u1) - 1) < 1e-12


@pytest.mark.parametrize("kind", ["dense", "conv", "convT"])
def test_sigma_converges_to_the_largest_singular_value(f64, kind):
    layer = {"dense": lambda: nn.Dense(7, 5), "conv": lambda: nn.Conv2D(3, 6, 3),
             "convT": lambda: nn.ConvTranspose2D(4, 3, 2)}[kind]()
    sn = nn.SpectralNorm(layer, n_power_iterations=500)
    sn.forward(B.normal((2, 7) if kind == "dense" else (2, layer.in_channels, 4, 4)))
    top = np.linalg.svd(matrix_view(kind, layer.weight.data), compute_uv=False)[0]
    assert sn.sigma() == pytest.approx(top, rel=1e-8)
    w_sn = matrix_view(kind, sn._cache[0])
    assert np.linalg.svd(w_sn, compute_uv=False)[0] == pytest.approx(1.0, rel=1e-8)


def matrix_view(kind, w):
    """PyTorch's matrix view: (out, in) for Linear, output channels first for both convolutions."""
    w = B.to_numpy(w)
    if kind == "dense":
        return w.T
    if kind == "convT":
        w = w.transpose(1, 0, 2, 3)
    return w.reshape(w.shape[0], -1)


def test_u_persists_through_state_dict_and_files(f64, tmp_path):
    net = nn.Sequential(nn.SpectralNorm(nn.Dense(4, 3)), nn.ReLU(), nn.SpectralNorm(nn.Dense(3, 1)))
    net.forward(B.normal((5, 4)))
    state = net.state_dict()
    assert set(state) == {"0.layer.weight", "0.layer.bias", "0.u", "2.layer.weight", "2.layer.bias", "2.u"}
    B.seed(99)
    other = nn.Sequential(nn.SpectralNorm(nn.Dense(4, 3)), nn.ReLU(), nn.SpectralNorm(nn.Dense(3, 1)))
    assert not np.allclose(B.to_numpy(other[0].u), state["0.u"])
    other.load(net.save(tmp_path / "sn.npz"))
    np.testing.assert_array_equal(B.to_numpy(other[0].u), state["0.u"])
    x = B.normal((2, 4))
    np.testing.assert_array_equal(B.to_numpy(other.forward(x)), B.to_numpy(net.forward(x)))


def test_frozen_and_data_input(f64):
    sn = nn.SpectralNorm(nn.Dense(3, 2))
    x = B.normal((4, 3))
    sn.forward(x)
    with nn.frozen(sn):
        dx = sn.backward(B.normal((4, 2)))
    assert dx.shape == x.shape and float(abs(sn.layer.weight.grad).sum()) == 0.0
    sn.forward(x)
    with nn.data_input(sn):
        assert sn.backward(B.normal((4, 2))) is None
    assert float(abs(sn.layer.weight.grad).sum()) > 0


@pytest.mark.parametrize("layer", [lambda: nn.ReLU(), lambda: nn.BatchNorm(3),
                                   lambda: nn.Sequential(nn.Dense(2, 2))])
def test_unsupported_layers_are_refused(layer):
    with pytest.raises(ValueError, match="Dense, Conv2D or ConvTranspose2D"):
        nn.SpectralNorm(layer())
    with pytest.raises(ValueError, match="n_power_iterations"):
        nn.SpectralNorm(nn.Dense(2, 2), n_power_iterations=0)


@settings(max_examples=30)
@given(cfg=wrapped_config(), steps=st.integers(1, 3))
def test_matches_torch_spectral_norm(f64, cfg, steps):
    """Training mode with npgan's u copied into torch's ``weight_u``: the same power-iteration
    step, forward output, input gradient, gradients of the unnormalised weight and bias, and new u."""
    torch = pytest.importorskip("torch")
    B.set_backend("numpy")
    ours = nn.SpectralNorm(build(cfg), n_power_iterations=steps)
    inner, kind = ours.layer, cfg["kind"]
    if kind == "dense":
        ref = torch.nn.Linear(cfg["c"], cfg["o"]).double()
        w = inner.weight.data.T
    elif kind == "conv":
        ref = torch.nn.Conv2d(cfg["c"], cfg["o"], cfg["k"], cfg["s"], cfg["p"], bias=cfg["bias"]).double()
        w = inner.weight.data
    else:
        ref = torch.nn.ConvTranspose2d(cfg["c"], cfg["o"], cfg["k"], cfg["s"], cfg["p"], cfg["op"],
                                       bias=cfg["bias"]).double()
        w = inner.weight.data
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
        if inner.bias is not None:
            ref.bias.copy_(torch.from_numpy(inner.bias.data))
    ref = torch.nn.utils.spectral_norm(ref, n_power_iterations=steps)  # dim 1 for ConvTranspose2d
    with torch.no_grad():
        ref.weight_u.copy_(torch.from_numpy(ours.u))
    x = B.normal(cfg["shape"])
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = ref(xt)
    y = ours.forward(x)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(ours.u, ref.weight_u.numpy(), rtol=1e-9, atol=1e-11)
    g = B.normal(y.shape)
    yt.backward(torch.from_numpy(g))
    dx = ours.backward(g)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-9, atol=1e-11)
    dw = inner.weight.grad.T if kind == "dense" else inner.weight.grad
    np.testing.assert_allclose(dw, ref.weight_orig.grad.numpy(), rtol=1e-8, atol=1e-10)
    if inner.bias is not None:
        np.testing.assert_allclose(inner.bias.grad, ref.bias.grad.numpy(), rtol=1e-9, atol=1e-11)
