import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import assert_grads_ok
from npgan import backend as B
from npgan import nn


@given(n=st.integers(1, 4), c=st.integers(1, 3), h=st.integers(1, 4), w=st.integers(1, 4))
def test_flatten_reshape_gradients(f64, n, c, h, w):
    x = B.normal((n, c, h, w))
    y = nn.Flatten()(x)
    assert y.shape == (n, c * h * w)
    assert_grads_ok(nn.Flatten(), x)
    assert_grads_ok(nn.Reshape((c, h, w)), y)
    np.testing.assert_array_equal(B.to_numpy(nn.Reshape((c, h, w))(y)), B.to_numpy(x))


def test_reshape_error_names_layer(backend_name):
    with pytest.raises(ValueError, match=r"Reshape\(\(2, 3\)\): expected \(N, ...\) with 6 values per sample"):
        nn.Reshape((2, 3))(B.normal((4, 5)))


def test_flatten_backward_keeps_the_input_memory_layout(f64):
    """A channels-last input (a convolution's output) gets a channels-last gradient back."""
    x = B.normal((2, 4, 3, 5)).transpose(0, 3, 1, 2)  # NCHW view of NHWC memory
    layer = nn.Flatten()
    y = layer.forward(x)
    g = B.normal(y.shape)
    dx = layer.backward(g)
    assert dx.shape == x.shape and dx.strides == x.strides
    np.testing.assert_array_equal(B.to_numpy(dx), B.to_numpy(g).reshape(x.shape))
    assert_grads_ok(nn.Flatten(), x)
    contiguous = nn.Flatten()
    contiguous.forward(B.normal((2, 3, 2)))
    g2 = B.normal((2, 6))
    assert contiguous.backward(g2).flags.c_contiguous  # a plain reshape, no copy needed
