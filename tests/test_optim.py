import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from npgan import backend as B
from npgan.nn import Parameter
from npgan.optim import SGD, Adam


def make_param(values):
    return Parameter(B.asarray(np.asarray(values, dtype=np.float64), copy=True), "p")


def run(opt, p, grads):
    for g in grads:
        p.grad = B.asarray(np.asarray(g, dtype=np.float64))
        opt.step()
    return B.to_numpy(p.data)


@given(g=st.floats(-3, 3).filter(lambda v: abs(v) > 1e-3), steps=st.integers(1, 20),
       lr=st.floats(1e-4, 0.5), b1=st.floats(0.0, 0.99), b2=st.floats(0.5, 0.9999))
def test_adam_constant_gradient_closed_form(f64, g, steps, lr, b1, b2):
    """With a constant gradient g the bias-corrected moments are exactly g and g^2, so
    each Adam step moves p by lr * g / (|g| + eps): after t steps p = p0 - t*lr*g/(|g|+eps)."""
    p = make_param([1.5])
    opt = Adam([p], lr=lr, betas=(b1, b2), eps=1e-8)
    out = run(opt, p, [[g]] * steps)
    # atol: the result can cancel to ~0 (e.g. 1.5 - 3 * 0.5 * 1), where only rounding remains
    np.testing.assert_allclose(out, 1.5 - steps * lr * g / (abs(g) + 1e-8), rtol=1e-9, atol=1e-12)


@given(g=st.floats(-3, 3), steps=st.integers(1, 20), lr=st.floats(1e-4, 0.5),
       mu=st.floats(0.0, 0.99), nesterov=st.booleans())
def test_sgd_constant_gradient_closed_form(f64, g, steps, lr, mu, nesterov):
    """Momentum buffer after k steps: b_k = g (1 - mu^k) / (1 - mu). Plain momentum moves by
    lr * b_k; Nesterov by lr * (g + mu b_k)."""
    if nesterov and mu == 0:
        mu = 0.5
    p = make_param([0.25])
    opt = SGD([p], lr=lr, momentum=mu, nesterov=nesterov)
    out = run(opt, p, [[g]] * steps)
    b = [g * sum(mu ** j for j in range(k)) for k in range(1, steps + 1)]
    moves = [g + mu * bk for bk in b] if nesterov else b
    np.testing.assert_allclose(out, 0.25 - lr * np.sum(moves), rtol=1e-9, atol=1e-12)


def reference_adam(p, grads, lr, b1, b2, eps, wd):
    """Adam written out with plain Python floats, element by element."""
    p = list(p)
    m = [0.0] * len(p)
    v = [0.0] * len(p)
    for t, g in enumerate(grads, start=1):
        for i in range(len(p)):
            gi = g[i] + wd * p[i]
            m[i] = b1 * m[i] + (1 - b1) * gi
            v[i] = b2 * v[i] + (1 - b2) * gi * gi
            p[i] -= lr / (1 - b1 ** t) * m[i] / ((v[i] ** 0.5) / (1 - b2 ** t) ** 0.5 + eps)
    return p


def reference_sgd(p, grads, lr, mu, nesterov, wd):
    p = list(p)
    buf = None
    for g in grads:
        g = [gi + wd * pi for gi, pi in zip(g, p)]
        if mu:
            buf = list(g) if buf is None else [mu * b + gi for b, gi in zip(buf, g)]
            d = [gi + mu * b for gi, b in zip(g, buf)] if nesterov else buf
        else:
            d = g
        p = [pi - lr * di for pi, di in zip(p, d)]
    return p


@given(seed=st.integers(0, 10_000), steps=st.integers(1, 8), wd=st.sampled_from([0.0, 0.01]))
def test_optimisers_match_scalar_reference_on_varying_gradients(f64, seed, steps, wd):
    rng = np.random.default_rng(seed)
    p0 = rng.normal(size=4)
    grads = rng.normal(size=(steps, 4))
    p = make_param(p0)
    out = run(Adam([p], lr=0.01, betas=(0.5, 0.999), weight_decay=wd), p, grads)
    np.testing.assert_allclose(out, reference_adam(p0, grads, 0.01, 0.5, 0.999, 1e-8, wd), rtol=1e-10)
    for mu, nest in [(0.0, False), (0.9, False), (0.9, True)]:
        p = make_param(p0)
        out = run(SGD([p], lr=0.05, momentum=mu, nesterov=nest, weight_decay=wd), p, grads)
        np.testing.assert_allclose(out, reference_sgd(p0, grads, 0.05, mu, nest, wd), rtol=1e-10)


def test_state_dict_is_a_snapshot(f64):
    p = make_param([1.0, 2.0])
    opt = Adam([p], lr=0.1)
    run(opt, p, [[1.0, 1.0]])
    state = opt.state_dict()
    m_before = state["m.0"].copy()
    run(opt, p, [[5.0, 5.0]])
    np.testing.assert_array_equal(state["m.0"], m_before)


def test_state_dict_round_trip_continues_identically(f64):
    grads = np.random.default_rng(0).normal(size=(6, 3))
    p = make_param([0.1, 0.2, 0.3])
    opt = Adam([p], lr=0.01)
    run(opt, p, grads[:3])
    state, saved_p = opt.state_dict(), B.to_numpy(p.data).copy()
    end_a = run(opt, p, grads[3:])
    q = make_param(saved_p)
    opt2 = Adam([q], lr=0.01)
    opt2.load_state_dict(state)
    end_b = run(opt2, q, grads[3:])
    np.testing.assert_array_equal(end_a, end_b)
    with pytest.raises(KeyError, match="missing key 'm.0'"):
        Adam([q]).load_state_dict({"t": 1})


def test_zero_grad_and_errors(backend_name):
    p = make_param([1.0, 2.0])
    p.grad += 3
    SGD([p], lr=0.1).zero_grad()
    assert float(abs(p.grad).sum()) == 0
    with pytest.raises(ValueError, match="empty parameter list"):
        Adam([])
    with pytest.raises(ValueError, match="nesterov needs momentum"):
        SGD([p], lr=0.1, nesterov=True)
