import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from helpers import assert_grads_ok
from npgan import backend as B
from npgan import nn
from npgan.nn.im2col import col2im, im2col, pad_nhwc

k = st.integers(1, 5)
s = st.integers(1, 3)
p = st.integers(0, 2)


@st.composite
def conv_config(draw):
    kh, kw, sh, sw, ph, pw = draw(k), draw(k), draw(s), draw(s), draw(p), draw(p)
    h = draw(st.integers(max(1, kh - 2 * ph), kh - 2 * ph + 7))
    w = draw(st.integers(max(1, kw - 2 * pw), kw - 2 * pw + 7))
    return dict(n=draw(st.integers(1, 3)), c=draw(st.integers(1, 3)), o=draw(st.integers(1, 3)),
                k=(kh, kw), s=(sh, sw), p=(ph, pw), h=h, w=w, bias=draw(st.booleans()))


@given(cfg=conv_config())
def test_conv2d_gradients(f64, cfg):
    layer = nn.Conv2D(cfg["c"], cfg["o"], cfg["k"], cfg["s"], cfg["p"], bias=cfg["bias"])
    x = B.normal((cfg["n"], cfg["c"], cfg["h"], cfg["w"]))
    y = layer.forward(x)
    assert y.shape == layer.output_shape(x.shape)
    assert_grads_ok(layer, x)


@st.composite
def convT_config(draw):
    cfg = draw(conv_config())
    cfg["op"] = (draw(st.integers(0, cfg["s"][0] - 1)), draw(st.integers(0, cfg["s"][1] - 1)))
    cfg["h"], cfg["w"] = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    for a in (0, 1):  # PyTorch needs a non-empty output
        hw = cfg["h"] if a == 0 else cfg["w"]
        assume((hw - 1) * cfg["s"][a] - 2 * cfg["p"][a] + cfg["k"][a] + cfg["op"][a] >= 1)
    return cfg


@given(cfg=convT_config())
def test_conv_transpose2d_gradients(f64, cfg):
    layer = nn.ConvTranspose2D(cfg["c"], cfg["o"], cfg["k"], cfg["s"], cfg["p"], cfg["op"],
                               bias=cfg["bias"])
    x = B.normal((cfg["n"], cfg["c"], cfg["h"], cfg["w"]))
    y = layer.forward(x)
    sh, sw = cfg["s"]
    ho = (cfg["h"] - 1) * sh - 2 * cfg["p"][0] + cfg["k"][0] + cfg["op"][0]
    wo = (cfg["w"] - 1) * sw - 2 * cfg["p"][1] + cfg["k"][1] + cfg["op"][1]
    assert y.shape == (cfg["n"], cfg["o"], ho, wo)
    assert_grads_ok(layer, x)


@given(cfg=conv_config())
def test_conv_transpose_is_the_adjoint_of_conv(f64, cfg):
    """<conv(x), y> = <x, convT(y)> with the same weight and the output_padding that restores H, W."""
    conv = nn.Conv2D(cfg["c"], cfg["o"], cfg["k"], cfg["s"], cfg["p"], bias=False)
    (kh, kw), (sh, sw), (ph, pw) = cfg["k"], cfg["s"], cfg["p"]
    op = ((cfg["h"] + 2 * ph - kh) % sh, (cfg["w"] + 2 * pw - kw) % sw)
    convT = nn.ConvTranspose2D(cfg["o"], cfg["c"], cfg["k"], cfg["s"], cfg["p"], op, bias=False)
    convT.weight.data = conv.weight.data.copy()
    x = B.normal((cfg["n"], cfg["c"], cfg["h"], cfg["w"]))
    y = B.normal(conv.output_shape(x.shape))
    back = convT.forward(y)
    assert back.shape == x.shape
    lhs = float((conv.forward(x) * y).sum())
    rhs = float((x * back).sum())
    assert lhs == pytest.approx(rhs, rel=1e-10, abs=1e-10)


def test_conv2d_matches_direct_sum(f64):
    """The im2col product equals the textbook quadruple sum (computed here with plain loops)."""
    layer = nn.Conv2D(2, 3, (3, 2), stride=(2, 1), padding=(1, 0))
    x = B.normal((2, 2, 5, 4))
    y = B.to_numpy(layer.forward(x))
    xn, w, b = B.to_numpy(x), B.to_numpy(layer.weight.data), B.to_numpy(layer.bias.data)
    xpad = np.pad(xn, ((0, 0), (0, 0), (1, 1), (0, 0)))
    ref = np.zeros_like(y)
    for n in range(2):
        for o in range(3):
            for a in range(y.shape[2]):
                for c in range(y.shape[3]):
                    ref[n, o, a, c] = b[o] + np.sum(w[o] * xpad[n, :, 2 * a:2 * a + 3, c:c + 2])
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


def test_col2im_is_adjoint_of_im2col(f64):
    n, hp, wp, c, kh, kw, sh, sw = 2, 7, 6, 3, 3, 2, 2, 2
    ho, wo = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    x = B.normal((n, hp, wp, c))
    cols = B.normal((n * ho * wo, kh * kw * c))
    lhs = float((im2col(x, kh, kw, sh, sw, ho, wo) * cols).sum())
    rhs = float((x * col2im(cols, n, hp, wp, c, kh, kw, sh, sw, ho, wo)).sum())
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_weight_layouts_follow_pytorch(backend_name):
    assert nn.Conv2D(3, 8, (5, 4)).weight.shape == (8, 3, 5, 4)
    assert nn.ConvTranspose2D(3, 8, (5, 4)).weight.shape == (3, 8, 5, 4)


def test_conv_errors_name_the_layer(backend_name):
    conv = nn.Conv2D(3, 4, 3)
    with pytest.raises(ValueError, match=r"Conv2D\(3->4.*expected input shape \(N, 3, H, W\), received \(2, 5, 8, 8\)"):
        conv.forward(B.normal((2, 5, 8, 8)))
    with pytest.raises(ValueError, match=r"expected a 4-D input, received shape \(2, 3\)"):
        conv.forward(B.normal((2, 3)))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        conv.forward(B.normal((1, 3, 2, 2)))
    with pytest.raises(ValueError, match="output_padding"):
        nn.ConvTranspose2D(3, 4, 3, stride=2, output_padding=2)
    with pytest.raises(RuntimeError, match="backward called before forward"):
        nn.Conv2D(1, 1, 1).backward(B.normal((1, 1, 1, 1)))
    y = conv.forward(B.normal((2, 3, 8, 8)))
    with pytest.raises(ValueError, match=r"expected grad_out of shape \(2, 4, 6, 6\)"):
        conv.backward(B.normal((2, 4, 5, 5)))
    assert y.shape == (2, 4, 6, 6)


def test_backward_accumulates_gradients(f64):
    """Two backward passes add up (a discriminator's real and fake passes); zero_grad clears."""
    conv = nn.Conv2D(2, 3, 3, padding=1)
    x1, x2 = B.normal((2, 2, 5, 5)), B.normal((2, 2, 5, 5))
    g = B.normal((2, 3, 5, 5))
    conv.forward(x1)
    conv.backward(g)
    g1 = B.to_numpy(conv.weight.grad).copy()
    conv.zero_grad()
    conv.forward(x2)
    conv.backward(g)
    g2 = B.to_numpy(conv.weight.grad).copy()
    conv.zero_grad()
    conv.forward(x1)
    conv.backward(g)
    conv.forward(x2)
    conv.backward(g)
    np.testing.assert_allclose(B.to_numpy(conv.weight.grad), g1 + g2, rtol=1e-12)
    conv.zero_grad()
    assert float(abs(conv.weight.grad).max()) == 0.0


@given(cfg=conv_config(), data=st.data())
def test_col2im_crop_equals_cropping_the_full_image(f64, cfg, data):
    """col2im's crop skips the border as it adds: the same numbers as summing all, then cropping
    (to rounding: the sums may add the same terms in another order)."""
    (kh, kw), (sh, sw), n, c = cfg["k"], cfg["s"], cfg["n"], cfg["c"]
    hp, wp = cfg["h"] + 2 * cfg["p"][0], cfg["w"] + 2 * cfg["p"][1]
    ho, wo = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    top, left = data.draw(st.integers(0, hp - 1)), data.draw(st.integers(0, wp - 1))
    height, width = data.draw(st.integers(1, hp - top)), data.draw(st.integers(1, wp - left))
    cols = B.normal((n * ho * wo, kh * kw * c))
    full = col2im(cols, n, hp, wp, c, kh, kw, sh, sw, ho, wo)
    part = col2im(cols, n, hp, wp, c, kh, kw, sh, sw, ho, wo, crop=(top, left, height, width))
    assert part.flags.c_contiguous
    np.testing.assert_allclose(B.to_numpy(part), B.to_numpy(full[:, top:top + height, left:left + width]),
                               rtol=1e-12, atol=1e-12)


def test_im2col_matches_a_copy_per_offset(f64):
    x = B.normal((2, 9, 8, 3))
    kh, kw, sh, sw, ho, wo = 3, 2, 2, 3, 4, 3
    cols = B.to_numpy(im2col(x, kh, kw, sh, sw, ho, wo)).reshape(2, ho, wo, kh, kw, 3)
    xn = B.to_numpy(x)
    for i in range(kh):
        for j in range(kw):
            np.testing.assert_array_equal(cols[:, :, :, i, j], xn[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw])


@pytest.mark.parametrize("cls", ["Conv2D", "ConvTranspose2D"])
def test_frozen_layer_gives_the_input_gradient_only(f64, cls):
    layer = getattr(nn, cls)(2, 3, 3, stride=2, padding=1)
    x = B.normal((2, 2, 5, 5))
    y = layer.forward(x)
    g = B.normal(y.shape)
    dx = layer.backward(g)
    layer.zero_grad()
    with nn.frozen(layer):
        layer.forward(x)
        dx_frozen = layer.backward(g)
    assert layer.requires_grad
    np.testing.assert_array_equal(B.to_numpy(dx_frozen), B.to_numpy(dx))
    for p in layer.parameters():
        assert float(abs(p.grad).max()) == 0.0


@pytest.mark.parametrize("ph, pw", [(0, 0), (1, 0), (0, 2), (2, 1)])
def test_pad_nhwc_equals_zero_padding_of_the_channels_last_image(backend_name, ph, pw):
    x = B.normal((2, 3, 4, 5))
    want = np.pad(B.to_numpy(x).transpose(0, 2, 3, 1), ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    np.testing.assert_array_equal(B.to_numpy(pad_nhwc(x, ph, pw)), want)
