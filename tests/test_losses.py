import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from npgan import backend as B
from npgan.gradcheck import gradcheck_loss
from npgan.losses import sigmoid_cross_entropy, softmax_cross_entropy, softplus

shapes = st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple)


@given(shape=shapes, scale=st.floats(0.1, 8.0), soft=st.booleans())
def test_sigmoid_cross_entropy_gradient(f64, shape, scale, soft):
    logits = B.normal(shape) * scale
    targets = B.uniform(shape) if soft else (B.uniform(shape) > 0.5).astype(logits.dtype)
    report = gradcheck_loss(sigmoid_cross_entropy, logits, targets)
    assert report.ok(1e-6), f"\n{report}"


@given(shape=shapes, t=st.floats(0.0, 1.0))
def test_matches_naive_formula_on_moderate_logits(f64, shape, t):
    x = B.normal(shape) * 3
    loss, grad = sigmoid_cross_entropy(x, t)
    xn = B.to_numpy(x)
    s = 1 / (1 + np.exp(-xn))
    naive = -(t * np.log(s) + (1 - t) * np.log(1 - s)).mean()
    assert loss == pytest.approx(naive, rel=1e-10)
    np.testing.assert_allclose(B.to_numpy(grad), (s - t) / xn.size, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_finite_for_huge_logits(backend_name, dtype):
    B.set_dtype(dtype)
    x = B.asarray(np.array([-1e4, -50.0, 50.0, 1e4]))
    for t in (0.0, 1.0, 0.9):
        loss, grad = sigmoid_cross_entropy(x, t)
        assert np.isfinite(loss) and np.isfinite(B.to_numpy(grad)).all()
    # the limits: l(x, 1) -> softplus(-x), l(x, 0) -> softplus(x)
    loss_real, _ = sigmoid_cross_entropy(B.asarray(np.array([-1e4])), 1.0)
    assert loss_real == pytest.approx(1e4, rel=1e-6)
    loss_fake, grad_fake = sigmoid_cross_entropy(B.asarray(np.array([-1e4])), 0.0)
    assert loss_fake == pytest.approx(0.0, abs=1e-30)
    assert B.to_numpy(grad_fake)[0] == pytest.approx(0.0, abs=1e-30)


def test_value_of_a_perfectly_confused_discriminator(f64):
    """D = 1/2 everywhere (logit 0): the GAN value V = E log D(x) + E log(1 - D(G(z))) is -log 4."""
    zeros = B.get_backend().zeros((10, 1))
    real, _ = sigmoid_cross_entropy(zeros, 1.0)
    fake, _ = sigmoid_cross_entropy(zeros, 0.0)
    assert -(real + fake) == pytest.approx(-np.log(4), rel=1e-14)


def test_softplus(f64):
    x = B.asarray(np.array([-800.0, -1.0, 0.0, 2.0, 800.0]))
    np.testing.assert_allclose(B.to_numpy(softplus(x)),
                               [0.0, np.log1p(np.exp(-1.0)), np.log(2), np.log1p(np.exp(2.0)), 800.0],
                               rtol=1e-14)


def test_errors(backend_name):
    x = B.normal((3, 1))
    with pytest.raises(ValueError, match=r"targets must have the logits' shape \(3, 1\), received \(3,\)"):
        sigmoid_cross_entropy(x, B.normal((3,)))
    with pytest.raises(B.BackendMismatchError, match="received list"):
        sigmoid_cross_entropy([0.0], 1.0)


@given(n=st.integers(1, 6), k=st.integers(2, 7), scale=st.floats(0.1, 8.0))
def test_softmax_cross_entropy_gradient(f64, n, k, scale):
    logits = B.normal((n, k)) * scale
    labels = B.asarray(B.integers(0, k, n), dtype="int64")
    report = gradcheck_loss(softmax_cross_entropy, logits, labels)
    assert report.ok(1e-6), f"\n{report}"


@given(n=st.integers(1, 6), k=st.integers(2, 7))
def test_softmax_cross_entropy_matches_naive_formula(f64, n, k):
    x = B.normal((n, k)) * 3
    labels = B.integers(0, k, n)
    loss, _ = softmax_cross_entropy(x, B.asarray(labels, dtype="int64"))
    xn = B.to_numpy(x)
    p = np.exp(xn) / np.exp(xn).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.log(p[np.arange(n), labels]).mean(), rel=1e-10)


def test_softmax_cross_entropy_is_finite_for_huge_logits(backend_name):
    x = B.asarray(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]]))
    loss, grad = softmax_cross_entropy(x, B.asarray(np.array([1, 2]), dtype="int64"))
    assert loss == pytest.approx(2e4 / 2, rel=1e-6)  # row 0 costs 2e4, row 1 costs 0
    assert np.isfinite(B.to_numpy(grad)).all()


def test_softmax_cross_entropy_rejects_bad_labels(backend_name):
    x = B.normal((3, 4))
    with pytest.raises(ValueError, match=r"softmax_cross_entropy: expected labels of shape \(3,\)"):
        softmax_cross_entropy(x, B.asarray(np.array([0, 1]), dtype="int64"))
