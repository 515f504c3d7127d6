import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import assert_grads_ok, split_work
from npgan import backend as B
from npgan import nn

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


def away_from_zero(x):
    """Move inputs off the kink at 0 so central differences are valid there."""
    xp = B.get_backend()
    return xp.where(abs(x) < 1e-3, x + 0.01, x)


@given(shape=shapes, slope=st.one_of(st.floats(0.0, 0.5), st.floats(-2.0, 3.0)),
       threads=st.sampled_from([1, 3]))
def test_relu_family_gradients(f64, shape, slope, threads):
    x = away_from_zero(B.normal(shape))
    with split_work(threads):  # 3: both passes split over the batch between threads
        assert_grads_ok(nn.ReLU(), x)
        assert_grads_ok(nn.LeakyReLU(slope), x)


@given(shape=shapes, scale=st.floats(0.1, 5.0))
def test_tanh_sigmoid_gradients(f64, shape, scale):
    x = B.normal(shape) * scale
    assert_grads_ok(nn.Tanh(), x)
    assert_grads_ok(nn.Sigmoid(), x)


def test_activation_values(f64):
    x = B.asarray(np.array([[-2.0, -0.5, 0.5, 3.0]]))
    np.testing.assert_allclose(B.to_numpy(nn.ReLU()(x)), [[0, 0, 0.5, 3.0]])
    np.testing.assert_allclose(B.to_numpy(nn.LeakyReLU(0.2)(x)), [[-0.4, -0.1, 0.5, 3.0]])
    xn = B.to_numpy(x)
    np.testing.assert_allclose(B.to_numpy(nn.Tanh()(x)), np.tanh(xn), rtol=1e-14)
    np.testing.assert_allclose(B.to_numpy(nn.Sigmoid()(x)), 1 / (1 + np.exp(-xn)), rtol=1e-14)


def test_sigmoid_is_finite_for_huge_inputs(backend_name):
    x = B.asarray(np.array([-1e4, -100.0, 0.0, 100.0, 1e4]))
    y = B.to_numpy(nn.Sigmoid()(x))
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y, [0, 0, 0.5, 1, 1], atol=1e-30)


def test_activation_rejects_integer_input(backend_name):
    with pytest.raises(B.BackendMismatchError, match=r"ReLU\(\): expected a floating-point input"):
        nn.ReLU()(B.asarray(np.arange(3)))


@pytest.mark.parametrize("slope", [0.2, -0.5, 2.5])
def test_leaky_relu_values_for_any_slope(backend_name, slope):
    x = B.asarray(np.array([-2.0, -0.5, 0.0, 0.5, 3.0]))
    y = B.to_numpy(nn.LeakyReLU(slope)(x))
    xn = B.to_numpy(x)
    np.testing.assert_allclose(y, np.where(xn > 0, xn, slope * xn), rtol=1e-6)


@pytest.mark.parametrize("layer", [nn.ReLU(), nn.LeakyReLU(0.2)], ids=repr)
def test_relu_family_keeps_the_input_memory_layout(backend_name, layer):
    """Output and dL/dx come back in x's memory layout (channels-last after a convolution),
    whatever the layout of dL/dy; the values equal those of a C-contiguous input."""
    xp = B.get_backend()
    x = B.normal((2, 4, 5, 3)).transpose(0, 3, 1, 2)
    g = B.normal(x.shape)
    y, dx = layer.forward(x), layer.backward(g)
    y0, dx0 = layer.forward(xp.ascontiguousarray(x)), layer.backward(g)
    np.testing.assert_array_equal(B.to_numpy(y), B.to_numpy(y0))
    np.testing.assert_array_equal(B.to_numpy(dx), B.to_numpy(dx0))
    assert y.transpose(0, 2, 3, 1).flags.c_contiguous and dx.transpose(0, 2, 3, 1).flags.c_contiguous
