"""Every kernel in ``npgan.kernels`` against its plain reference, on every backend, over drawn
shapes, memory layouts and dtypes, with the threads forced on (``split_work``)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import split_work
from npgan import backend as B
from npgan import kernels as K
from npgan.nn.im2col import window_offsets


def _channels_last(a) -> bool:
    return a.ndim == 4 and not a.flags.c_contiguous and a.transpose(0, 2, 3, 1).flags.c_contiguous


def _array(draw, shape, dtype, last=None):
    """A drawn array of `shape` (NCHW), channels-last in memory when `last` (drawn if None)."""
    last = draw(st.booleans()) if last is None and len(shape) == 4 else bool(last) and len(shape) == 4
    a = B.normal(shape, dtype=dtype)
    if last:
        a = B.get_backend().ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    return a


def _shape(draw):
    n, c = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    return draw(st.sampled_from([(n, c), (n, c, draw(st.integers(1, 4)), draw(st.integers(1, 4)))]))


def _vec(c, dtype, positive=False):
    v = B.normal((c,), dtype=dtype)
    return abs(v) + 0.5 if positive else v


# for each kernel: draw(st draw, dtype) -> its arguments
def _elementwise(draw, dtype):
    return (_array(draw, _shape(draw), dtype),)


def _grad_mask(draw, dtype):
    x = _array(draw, _shape(draw), dtype)
    return B.normal(x.shape, dtype=dtype), x > 0


def _slope(draw):
    return draw(st.sampled_from([0.0, 0.2, 1.0, 1.5]))


def _affine(draw, dtype):
    shape = _shape(draw)
    x = _array(draw, shape, dtype)
    c = shape[1]
    mean = _vec(c, dtype)
    centred = None
    if draw(st.booleans()):  # as channel_centre hands it over: x - mean in x's layout
        centred = B.get_backend().empty_like(x)
        centred[...] = x - mean.reshape((1, c) + (1,) * (x.ndim - 2))
    return x, mean, _vec(c, dtype, True), _vec(c, dtype), centred


def _sums(draw, dtype):
    shape = _shape(draw)
    return _array(draw, shape, dtype), _array(draw, shape, dtype)


def _input_grad(draw, dtype):
    dy, centred = _sums(draw, dtype)
    c = dy.shape[1]
    return dy, centred, _vec(c, dtype, True), _vec(c, dtype), _vec(c, dtype)


def _scale(draw, dtype):
    dy, like = _sums(draw, dtype)
    return dy, _vec(dy.shape[1], dtype, True), like


def _adam(draw, dtype):
    shape = draw(st.sampled_from([(3,), (7, 5), (K.ADAM_BLOCK + 1234,), (2, K.ADAM_BLOCK // 2 + 3)]))
    p, g, m = (B.normal(shape, dtype=dtype) for _ in range(3))
    v = B.uniform(shape, 0.0, 2.0, dtype=dtype)
    g[..., ::3], v[..., ::3] = 0, 0  # v stays 0 there: the step is m / eps
    # 1e-40: in float32 the folded constant inv_bc2 / step_size overflows, and the
    # kernel must fall back to the plain formula rather than produce inf * 0 = NaN
    return p, g, m, v, 0.5, 0.999, 1e-8, draw(st.sampled_from([1e-3, 2e-4, 1e-40])), 1.2


def _windows(draw, dtype):
    n, h, w, c = draw(st.integers(1, 3)), draw(st.integers(3, 6)), draw(st.integers(3, 6)), draw(st.integers(1, 3))
    k, s = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    image = B.normal((n, h, w, c), dtype=dtype)
    ho, wo = (h - k) // s + 1, (w - k) // s + 1
    sn, sh, sw, sc = image.strides
    return (B.get_backend().lib.stride_tricks.as_strided(
        image, shape=(n, ho, wo, k, k, c), strides=(sn, s * sh, s * sw, sh, sw, sc)),)


def _sum_windows(draw, dtype):
    """col2im's offsets for a drawn convolution geometry: kernel, stride, padding, crop."""
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw, sh, sw = (draw(st.integers(1, 4)) for _ in range(4))
    ho, wo = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    hp, wp = (ho - 1) * sh + kh, (wo - 1) * sw + kw
    top, left = draw(st.integers(0, hp - 1)), draw(st.integers(0, wp - 1))
    height, width = draw(st.integers(1, hp - top)), draw(st.integers(1, wp - left))
    cols = B.normal((n, ho, wo, kh, kw, c), dtype=dtype)
    return cols, window_offsets(kh, kw, sh, sw, ho, wo, (top, left, height, width)), (n, height, width, c)


CASES = {
    K.relu: _elementwise,
    K.relu_grad: _grad_mask,
    K.leaky_relu: lambda draw, dtype: _elementwise(draw, dtype) + (_slope(draw),),
    K.leaky_relu_grad: lambda draw, dtype: _grad_mask(draw, dtype) + (_slope(draw),),
    K.channel_sum: _elementwise,
    K.channel_centre: lambda draw, dtype: (lambda x: (x, _vec(x.shape[1], dtype)))(_elementwise(draw, dtype)[0]),
    K.batch_norm_affine: _affine,
    K.channel_sums: _sums,
    K.batch_norm_input_grad: _input_grad,
    K.channel_scale: _scale,
    K.adam_update: _adam,
    K.copy_windows: _windows,
    K.pad_channels_last: lambda draw, dtype: (_array(draw, (draw(st.integers(1, 4)), draw(st.integers(1, 3)),
                                                            draw(st.integers(1, 4)), draw(st.integers(1, 4))), dtype),
                                              draw(st.integers(0, 2)), draw(st.integers(0, 2))),
    K.matmul_by_offset: lambda draw, dtype: (lambda k, c: (B.normal((draw(st.integers(1, 7)), 3), dtype=dtype),
                                                           B.normal((3, k * c), dtype=dtype), k))(
        draw(st.integers(1, 5)), draw(st.integers(1, 4))),
    K.sum_windows: _sum_windows,
    K.matmul: lambda draw, dtype: (lambda m, k, n: (B.normal((m, k), dtype=dtype), B.normal((k, n), dtype=dtype)))(
        draw(st.integers(1, 5)), draw(st.sampled_from([1, 1, 2, 3])), draw(st.integers(1, 5))),
}


# kernels whose work is to update some arguments in place: which (their results are compared
# too); the other kernels may reuse an argument's memory (batch_norm_affine's `centred`)
IN_PLACE = {K.adam_update: (0, 2, 3)}


def test_every_kernel_has_a_reference_and_a_case():
    kernels = {f for name, f in vars(K).items() if callable(f) and not name.startswith("_")
               and getattr(f, "__module__", None) == K.__name__ and not name.endswith("_reference")
               and name not in ("elementwise_min_work", "set_elementwise_min_work")}
    assert kernels == set(K.REFERENCES) == set(CASES)


def _copy(a):
    """An independent copy of an argument, keeping an array's memory layout."""
    xp = B.get_backend()
    return xp.copy(a, order="K") if hasattr(a, "shape") and hasattr(a, "dtype") else a


def _host(a):
    return B.to_numpy(a).astype(np.float64) if a.dtype.kind == "f" else B.to_numpy(a)


@pytest.mark.parametrize("kernel", list(CASES), ids=lambda f: f.__name__)
@given(data=st.data(), dtype=st.sampled_from(["float32", "float64"]), threads=st.sampled_from([1, 3]))
def test_kernel_matches_its_reference(backend_name, kernel, data, dtype, threads):
    B.seed(data.draw(st.integers(0, 2**16)))
    args = CASES[kernel](data.draw, dtype)
    mine, theirs = [_copy(a) for a in args], [_copy(a) for a in args]
    with split_work(threads):
        got = kernel(*mine)
    want = K.REFERENCES[kernel](*theirs)
    got = got if isinstance(got, tuple) else (got,)
    want = want if isinstance(want, tuple) else (want,)
    tol = 2e-5 if dtype == "float32" else 1e-12
    # the results, and the arguments afterwards (in-place kernels: Adam)
    pairs = [(g, w) for g, w in zip(got, want) if g is not None] + \
            [(mine[i], theirs[i]) for i in IN_PLACE.get(kernel, ())]
    for g, w in pairs:
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(_host(g), _host(w), rtol=tol, atol=tol)
    if args and hasattr(args[0], "ndim") and args[0].ndim == 4 and kernel not in (K.adam_update, K.pad_channels_last):
        for g in got:  # outputs keep the layout of what they were computed from
            if hasattr(g, "ndim") and g.ndim == 4 and g.shape == args[0].shape:
                like = args[2] if kernel is K.channel_scale else args[1] if kernel in (
                    K.channel_sums, K.batch_norm_input_grad, K.relu_grad, K.leaky_relu_grad) else args[0]
                assert _channels_last(g) == _channels_last(like), kernel.__name__


@pytest.mark.parametrize("c", [1, 8])
def test_matmul_by_offset_lays_each_offset_out_contiguously(backend_name, c):
    """Offset-major for blocks of 8 channels or more (col2im reads one offset at a time), the
    row-major product for narrower ones; the same numbers either way."""
    a, b = B.normal((10, 3)), B.normal((3, 4 * c))
    got = K.matmul_by_offset(a, b, 4)
    assert all(got[:, j, :].flags.c_contiguous for j in range(4)) == (c >= 8)
    assert got.flags.c_contiguous == (c < 8)
    np.testing.assert_allclose(B.to_numpy(got), B.to_numpy(a @ b).reshape(10, 4, c), rtol=1e-5, atol=1e-5)
