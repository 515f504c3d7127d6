import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import assert_grads_ok
from npgan import backend as B
from npgan import nn


@given(p=st.floats(0.0, 0.9), n=st.integers(1, 5), d=st.integers(1, 6))
def test_dropout_gradients(f64, p, n, d):
    assert_grads_ok(nn.Dropout(p), B.normal((n, d)))


def test_dropout_scaling(backend_name):
    p = 0.3
    drop = nn.Dropout(p)
    x = B.get_backend().ones((200, 500), dtype=B.get_dtype())
    y = B.to_numpy(drop.forward(x, training=True))
    zero_frac = (y == 0).mean()
    # Binomial(100000, 0.3): std of the fraction is 0.0014; allow 5 std
    assert abs(zero_frac - p) < 0.0075
    kept = y[y != 0]
    np.testing.assert_allclose(kept, 1 / (1 - p), rtol=1e-6)
    assert abs(y.mean() - 1.0) < 0.015  # inverted dropout keeps the mean
    g = B.to_numpy(drop.backward(B.get_backend().ones_like(x)))
    np.testing.assert_array_equal(g, y)  # the same mask scales the gradient


def test_dropout_eval_is_identity(backend_name):
    drop = nn.Dropout(0.5)
    x = B.normal((4, 7))
    assert drop.forward(x, training=False) is x
    g = B.normal((4, 7))
    assert drop.backward(g) is g


def test_dropout_masks_are_seeded(backend_name):
    x = B.normal((3, 50))
    B.seed(11)
    a = B.to_numpy(nn.Dropout(0.5)(x))
    B.seed(11)
    b = B.to_numpy(nn.Dropout(0.5)(x))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        nn.Dropout(1.5)
