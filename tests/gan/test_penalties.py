"""Gradient penalties: hand-written double backprop against finite differences (and PyTorch).

P = mean_i (||dD(x_i)/dx_i|| - t)^2 is differentiated with respect to every parameter of D
and to its input, for hypothesis-drawn MLP and convolutional critics, in float64.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npgan import backend as B
from npgan import nn
from npgan.gan.penalties import gradient_penalty
from npgan.gradcheck import compare, numerical_gradient

TOL = 1e-6
ACTIVATIONS = {"leaky": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
               "relu": nn.ReLU}


def assert_penalty_grads_ok(D, x, target, max_checks=40, one_sided=False):
    """dP/dtheta (added to .grad) and dP/dx against central differences of P."""
    D.zero_grad()
    value, gx = gradient_penalty(D, x, target=target, return_input_grad=True, one_sided=one_sided)
    analytic = {name: p.grad.copy() for name, p in D.named_parameters()}  # before f adds more
    rows = []
    f = lambda: float(gradient_penalty(D, x, target=target, one_sided=one_sided))  # noqa: E731
    for name, p in D.named_parameters():
        num, count = numerical_gradient(f, p.data, 1e-6, max_checks, 0)
        rows.append(compare(name, analytic[name], num, count))
    num, count = numerical_gradient(f, x, 1e-6, max_checks, 0)
    rows.append(compare("input", gx, num, count))
    bad = [r for r in rows if r.max_rel > TOL]
    assert not bad, bad
    return float(value)


def mlp_critic(d_in, width, depth, act, layernorm):
    layers, w = [], d_in
    for _ in range(depth):
        layers += [nn.Dense(w, width)] + ([nn.LayerNorm(width)] if layernorm else []) + [ACTIVATIONS[act]()]
        w = width
    return nn.Sequential(*layers, nn.Dense(w, 1))


@settings(max_examples=20)
@given(n=st.integers(1, 5), d_in=st.integers(1, 4), width=st.integers(2, 6), depth=st.integers(1, 3),
       act=st.sampled_from(sorted(ACTIVATIONS)), layernorm=st.booleans(), target=st.sampled_from([0.0, 1.0]),
       one_sided=st.booleans())
def test_mlp_critics(f64, n, d_in, width, depth, act, layernorm, target, one_sided):
    assert_penalty_grads_ok(mlp_critic(d_in, width, depth, act, layernorm), B.normal((n, d_in)), target,
                            one_sided=one_sided)


@settings(max_examples=15)
@given(n=st.integers(1, 3), c=st.integers(1, 2), k=st.integers(2, 4), s=st.integers(1, 2),
       p=st.integers(0, 1), h=st.integers(4, 6), act=st.sampled_from(["leaky", "tanh"]),
       layernorm=st.booleans(), target=st.sampled_from([0.0, 1.0]))
def test_conv_critics(f64, n, c, k, s, p, h, act, layernorm, target):
    conv = nn.Conv2D(c, 3, k, stride=s, padding=p)
    _, o, ho, wo = conv.output_shape((n, c, h, h))
    body = [conv] + ([nn.LayerNorm((o, ho, wo))] if layernorm else []) + [ACTIVATIONS[act]()]
    D = nn.Sequential(*body, nn.Flatten(), nn.Dense(o * ho * wo, 1))
    assert_penalty_grads_ok(D, B.normal((n, c, h, h)), target)


def test_the_value_and_its_closed_form_for_a_linear_critic(f64):
    """D(x) = x @ w + b has input gradient w for every sample: P = (||w|| - t)^2, and
    dP/dw = 2 (||w|| - t) w / ||w||, whatever the batch."""
    D = nn.Sequential(nn.Dense(3, 1))
    w = B.to_numpy(D[0].weight.data)[:, 0]
    norm = np.linalg.norm(w)
    for t in (0.0, 1.0):
        D.zero_grad()
        value = float(gradient_penalty(D, B.normal((7, 3)), target=t))
        assert value == pytest.approx((norm - t) ** 2, rel=1e-12)
        np.testing.assert_allclose(B.to_numpy(D[0].weight.grad)[:, 0], 2 * (norm - t) * w / norm, rtol=1e-12)
        assert float(abs(D[0].bias.grad).max()) == 0.0


def test_one_sided_penalises_only_norms_above_the_target(f64):
    D = nn.Sequential(nn.Dense(2, 1))
    for scale, expected in ((0.5, 0.0), (3.0, None)):
        D[0].weight.data[...] = B.asarray([[0.6], [0.8]]) * scale   # ||grad D|| = scale
        D.zero_grad()
        value = float(gradient_penalty(D, B.normal((4, 2)), target=1.0, one_sided=True))
        two_sided = float(gradient_penalty(D, B.normal((4, 2)), target=1.0)) if expected is None else None
        if expected is None:
            assert value == pytest.approx(two_sided, rel=1e-12) == pytest.approx((scale - 1) ** 2)
        else:
            assert value == 0.0 and float(abs(D[0].weight.grad).max()) == 0.0


def test_it_adds_weight_times_the_gradient_to_what_is_there(f64):
    D = mlp_critic(2, 4, 2, "tanh", True)
    x = B.normal((5, 2))
    D.zero_grad()
    gradient_penalty(D, x, target=1.0)
    once = [B.to_numpy(p.grad, copy=True) for p in D.parameters()]
    gradient_penalty(D, x, target=1.0, weight=2.5)  # no zeroing in between
    for a, p in zip(once, D.parameters()):
        np.testing.assert_allclose(B.to_numpy(p.grad), 3.5 * a, rtol=1e-10, atol=1e-15)


def test_batchnorm_is_refused_before_anything_is_computed(backend_name):
    D = nn.Sequential(nn.Dense(2, 4), nn.BatchNorm(4), nn.LeakyReLU(0.2), nn.Dense(4, 1))
    before = B.to_numpy(D[1].running_mean, copy=True)
    with pytest.raises(ValueError, match="gradient_penalty: BatchNorm .* use LayerNorm"):
        gradient_penalty(D, B.normal((6, 2)))
    np.testing.assert_array_equal(B.to_numpy(D[1].running_mean), before)  # no forward pass ran


def test_one_output_per_sample_is_required(backend_name):
    with pytest.raises(ValueError, match="one output per sample"):
        gradient_penalty(nn.Sequential(nn.Dense(2, 3)), B.normal((4, 2)))


def test_matches_pytorch_create_graph(f64):
    torch = pytest.importorskip("torch")
    B.set_backend("numpy")
    D = nn.Sequential(nn.Conv2D(1, 2, 3, stride=2, padding=1), nn.LayerNorm((2, 3, 3)), nn.Tanh(),
                      nn.Flatten(), nn.Dense(18, 4), nn.LeakyReLU(0.2), nn.Dense(4, 1))
    T = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, 2, 1), torch.nn.LayerNorm((2, 3, 3)), torch.nn.Tanh(),
                            torch.nn.Flatten(), torch.nn.Linear(18, 4), torch.nn.LeakyReLU(0.2),
                            torch.nn.Linear(4, 1)).double()
    with torch.no_grad():
        for ours, ref in ((D[0], T[0]), (D[1], T[1])):
            ref.weight.copy_(torch.from_numpy(B.to_numpy(ours.weight.data)))
            ref.bias.copy_(torch.from_numpy(B.to_numpy(ours.bias.data)))
        for ours, ref in ((D[4], T[4]), (D[6], T[6])):  # npgan's Dense stores W as (in, out)
            ref.weight.copy_(torch.from_numpy(B.to_numpy(ours.weight.data).T))
            ref.bias.copy_(torch.from_numpy(B.to_numpy(ours.bias.data)))
    x = B.normal((4, 1, 5, 5))
    for target in (0.0, 1.0):
        D.zero_grad()
        T.zero_grad()
        value = float(gradient_penalty(D, x, target=target))
        xt = torch.from_numpy(B.to_numpy(x, copy=True)).requires_grad_(True)
        (g,) = torch.autograd.grad(T(xt).sum(), xt, create_graph=True)
        pt = ((g.flatten(1).norm(dim=1) - target) ** 2).mean()
        pt.backward()
        assert value == pytest.approx(pt.item(), rel=1e-10)
        for ours, ref in ((D[0], T[0]), (D[1], T[1])):
            np.testing.assert_allclose(B.to_numpy(ours.weight.grad), ref.weight.grad.numpy(), rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(B.to_numpy(D[4].weight.grad), T[4].weight.grad.numpy().T, rtol=1e-8, atol=1e-12)
