"""Optional: the convolutions and BatchNorm against PyTorch, where torch is installed.

npgan never imports torch; these tests do, to confirm the "PyTorch semantics"
claims (weight layouts, stride / padding / output_padding, running statistics).
They skip where torch is absent (it is not a test dependency).
"""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from npgan import backend as B
from npgan import nn

torch = pytest.importorskip("torch")


@given(n=st.integers(1, 3), c=st.integers(1, 3), o=st.integers(1, 3), k=st.integers(1, 5),
       s=st.integers(1, 3), p=st.integers(0, 2), h=st.integers(1, 8), w=st.integers(1, 8),
       transpose=st.booleans(), data=st.data())
def test_conv_matches_torch(f64, n, c, o, k, s, p, h, w, transpose, data):
    B.set_backend("numpy")
    if transpose:
        op = data.draw(st.integers(0, s - 1))
        assume((h - 1) * s - 2 * p + k + op >= 1 and (w - 1) * s - 2 * p + k + op >= 1)
        ours = nn.ConvTranspose2D(c, o, k, s, p, op)
        ref = torch.nn.ConvTranspose2d(c, o, k, s, p, op).double()
    else:
        assume(h + 2 * p >= k and w + 2 * p >= k)
        ours = nn.Conv2D(c, o, k, s, p)
        ref = torch.nn.Conv2d(c, o, k, s, p).double()
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(B.to_numpy(ours.weight.data)))
        ref.bias.copy_(torch.from_numpy(B.to_numpy(ours.bias.data)))
    x = B.normal((n, c, h, w))
    xt = torch.from_numpy(B.to_numpy(x, copy=True)).requires_grad_(True)
    yt = ref(xt)
    y = ours.forward(x)
    np.testing.assert_allclose(B.to_numpy(y), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = B.normal(y.shape)
    yt.backward(torch.from_numpy(B.to_numpy(g, copy=True)))
    dx = ours.backward(g)
    np.testing.assert_allclose(B.to_numpy(dx), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(B.to_numpy(ours.weight.grad), ref.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(B.to_numpy(ours.bias.grad), ref.bias.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_batchnorm_running_stats_match_torch(f64):
    B.set_backend("numpy")
    ours, ref = nn.BatchNorm(3), torch.nn.BatchNorm2d(3).double()
    for _ in range(3):
        x = B.normal((4, 3, 2, 5)) * 2 + 1
        y = ours.forward(x, training=True)
        yt = ref.train()(torch.from_numpy(B.to_numpy(x, copy=True)))
        np.testing.assert_allclose(B.to_numpy(y), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(B.to_numpy(ours.running_var), ref.running_var.numpy(), rtol=1e-12)
    x = B.normal((2, 3, 2, 5))
    np.testing.assert_allclose(B.to_numpy(ours.forward(x, training=False)),
                               ref.eval()(torch.from_numpy(B.to_numpy(x, copy=True))).detach().numpy(),
                               rtol=1e-10, atol=1e-12)


def test_adam_matches_torch(f64):
    from npgan.optim import Adam
    B.set_backend("numpy")
    rng = np.random.default_rng(0)
    p0, grads = rng.normal(size=5), rng.normal(size=(7, 5))
    p = nn.Parameter(B.asarray(p0, copy=True), "p")
    opt = Adam([p], lr=0.01, betas=(0.5, 0.999), weight_decay=0.1)
    pt = torch.tensor(p0, requires_grad=True)
    opt_t = torch.optim.Adam([pt], lr=0.01, betas=(0.5, 0.999), weight_decay=0.1)
    for g in grads:
        p.grad = B.asarray(g, copy=True)
        opt.step()
        pt.grad = torch.from_numpy(g.copy())
        opt_t.step()
    np.testing.assert_allclose(B.to_numpy(p.data), pt.detach().numpy(), rtol=1e-12)


def test_layernorm_matches_torch(f64):
    B.set_backend("numpy")
    ours, ref = nn.LayerNorm((3, 2, 4)), torch.nn.LayerNorm((3, 2, 4)).double()
    rng = np.random.default_rng(1)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(rng.normal(size=(3, 2, 4))))
        ref.bias.copy_(torch.from_numpy(rng.normal(size=(3, 2, 4))))
    ours.load_state_dict({"weight": ref.weight.detach().numpy(), "bias": ref.bias.detach().numpy()})
    x = B.normal((5, 3, 2, 4)) * 3 + 1
    xt = torch.from_numpy(B.to_numpy(x, copy=True)).requires_grad_(True)
    yt = ref(xt)
    np.testing.assert_allclose(B.to_numpy(ours.forward(x)), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = B.normal(x.shape)
    yt.backward(torch.from_numpy(B.to_numpy(g, copy=True)))
    np.testing.assert_allclose(B.to_numpy(ours.backward(g)), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(B.to_numpy(ours.weight.grad), ref.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
