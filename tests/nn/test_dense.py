import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import assert_grads_ok
from npgan import backend as B
from npgan import nn


@given(n=st.integers(1, 6), d_in=st.integers(1, 8), d_out=st.integers(1, 8),
       init=st.sampled_from(["pytorch", "he", "glorot", "dcgan"]))
def test_dense_gradients(f64, n, d_in, d_out, init):
    layer = nn.Dense(d_in, d_out, init=init)
    x = B.normal((n, d_in))
    y = layer.forward(x)
    np.testing.assert_allclose(B.to_numpy(y), B.to_numpy(x) @ B.to_numpy(layer.weight.data)
                               + B.to_numpy(layer.bias.data), rtol=1e-12)
    assert_grads_ok(layer, x)


def test_dense_shapes_and_errors(backend_name):
    layer = nn.Dense(4, 3)
    assert layer.weight.shape == (4, 3) and layer.bias.shape == (3,)
    assert [p.name for p in layer.parameters()] == ["weight", "bias"]
    with pytest.raises(ValueError, match=r"Dense\(4->3\): expected input shape \(N, 4\), received \(2, 5\)"):
        layer.forward(B.normal((2, 5)))


@pytest.mark.parametrize("init,check", [
    ("pytorch", lambda w, fan_in, fan_out: abs(w).max() <= 1 / np.sqrt(fan_in)),
    ("glorot", lambda w, fan_in, fan_out: abs(w).max() <= np.sqrt(6 / (fan_in + fan_out))),
    ("he", lambda w, fan_in, fan_out: abs(w.std() - np.sqrt(2 / fan_in)) < 0.05 * np.sqrt(2 / fan_in)),
    ("dcgan", lambda w, fan_in, fan_out: abs(w.std() - 0.02) < 0.001),
])
def test_initialisers_follow_their_documented_laws(backend_name, init, check):
    layer = nn.Dense(200, 300, init=init)
    w = B.to_numpy(layer.weight.data)
    assert check(w, 200, 300)
    assert abs(w.mean()) < 0.01 * max(w.std(), 1e-3) * 10


def test_initialisation_is_seeded(backend_name):
    B.seed(3)
    a = B.to_numpy(nn.Conv2D(2, 3, 3).weight.data)
    B.seed(3)
    b = B.to_numpy(nn.Conv2D(2, 3, 3).weight.data)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="unknown init"):
        nn.Dense(2, 2, init="zeros")
