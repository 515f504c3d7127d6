import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from helpers import assert_grads_ok, split_work
from npgan import backend as B
from npgan import nn


@given(n=st.integers(2, 5), c=st.integers(1, 4), spatial=st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))),
       training=st.booleans(), threads=st.sampled_from([1, 3]))
def test_batchnorm_gradients_train_and_eval(f64, n, c, spatial, training, threads):
    bn = nn.BatchNorm(c)
    shape = (n, c) if spatial is None else (n, c) + spatial
    # with 2 values per channel, training gives xhat = -1, +1 whatever x is: dL/dx is ~0 (set
    # by eps alone) and its relative error is rounding noise, so that case checks nothing
    assume(not training or n * (1 if spatial is None else spatial[0] * spatial[1]) > 2)
    bn.weight.data = B.normal((c,)) + 1.0
    bn.bias.data = B.normal((c,))
    bn.running_mean = B.normal((c,))
    bn.running_var = B.uniform((c,), 0.5, 2.0)
    x = B.normal(shape) * 2 + 1
    with split_work(threads):  # 3: the per-channel sums and passes split over the batch
        assert_grads_ok(bn, x, training=training)


def test_batchnorm_training_normalises_and_updates_running_stats(f64):
    bn = nn.BatchNorm(3, momentum=0.1)
    x = B.normal((8, 3, 4, 5)) * 3 + 2
    y = B.to_numpy(bn.forward(x, training=True))
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-4)
    xn = B.to_numpy(x)
    m = 8 * 4 * 5
    np.testing.assert_allclose(B.to_numpy(bn.running_mean), 0.1 * xn.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(B.to_numpy(bn.running_var),
                               0.9 + 0.1 * xn.var(axis=(0, 2, 3)) * m / (m - 1), rtol=1e-12)


def test_batchnorm_eval_uses_running_stats(f64):
    bn = nn.BatchNorm(2, momentum=0.5)
    x = B.normal((64, 2)) * 4 - 3
    for _ in range(60):  # running statistics converge to the batch's
        bn.forward(x, training=True)
    rm, rv = B.to_numpy(bn.running_mean).copy(), B.to_numpy(bn.running_var).copy()
    y_eval = B.to_numpy(bn.forward(x, training=False))
    # eval neither updates the statistics nor depends on the batch
    np.testing.assert_array_equal(B.to_numpy(bn.running_mean), rm)
    y_one = B.to_numpy(bn.forward(x[:1], training=False))
    np.testing.assert_allclose(y_one, y_eval[:1], rtol=1e-12)
    np.testing.assert_allclose(y_eval, (B.to_numpy(x) - rm) / np.sqrt(rv + 1e-5), rtol=1e-10)
    y_train = B.to_numpy(bn.forward(x, training=True))
    # unbiased running variance vs biased batch variance: close but not equal
    assert np.abs(y_eval - y_train).max() < 0.05
    assert np.abs(y_eval - y_train).max() > 1e-6


def test_batchnorm_errors(backend_name):
    bn = nn.BatchNorm(3)
    with pytest.raises(ValueError, match=r"more than 1 value per channel"):
        bn.forward(B.normal((1, 3)))
    with pytest.raises(ValueError, match=r"BatchNorm\(3\): expected input shape \(N, 3, H, W\)"):
        bn.forward(B.normal((4, 2, 5, 5)))
    with pytest.raises(ValueError, match="expected a 2-D or 4-D input"):
        bn.forward(B.normal((4, 3, 5)))


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_channels_last_input_same_values_same_layout(f64, training):
    """A convolution's output is channels-last in memory: BatchNorm gives the same numbers
    for it as for a C-contiguous copy, keeps that layout in y and dL/dx, and accepts
    dL/dy in either layout."""
    c = 3
    bn = nn.BatchNorm(c)
    bn.weight.data = B.normal((c,)) + 1.0
    bn.bias.data = B.normal((c,))
    bn.running_var = B.uniform((c,), 0.5, 2.0)
    xp = B.get_backend()
    x = B.normal((4, 5, 6, c)).transpose(0, 3, 1, 2)      # NCHW view of NHWC memory
    assert not x.flags.c_contiguous
    g = B.normal(x.shape)                                  # C-contiguous: the other layout
    results = []
    for inp in (xp.ascontiguousarray(x), x):
        bn.zero_grad()
        y = bn.forward(inp, training=training)
        dx = bn.backward(g)
        results.append((y, dx, B.to_numpy(bn.weight.grad).copy(), B.to_numpy(bn.bias.grad).copy()))
    for a, b in zip(results[0], results[1]):
        np.testing.assert_allclose(B.to_numpy(b), B.to_numpy(a), rtol=1e-12, atol=1e-12)
    y, dx = results[1][:2]
    assert y.transpose(0, 2, 3, 1).flags.c_contiguous and dx.transpose(0, 2, 3, 1).flags.c_contiguous
    assert results[0][0].flags.c_contiguous and results[0][1].flags.c_contiguous
