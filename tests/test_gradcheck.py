"""The checker itself: it passes correct layers and catches broken ones."""

import pytest

from npgan import backend as B
from npgan import nn
from npgan.gradcheck import gradcheck, gradcheck_loss
from npgan.losses import sigmoid_cross_entropy


class BrokenTanh(nn.Tanh):
    """tanh with the classic mistake: dL/dx = dL/dy * (1 - y) instead of (1 - y^2)."""

    def backward(self, grad_out):
        y = self._cached()
        return grad_out * (1 - y)


class ForgetsBias(nn.Dense):
    def backward(self, grad_out):
        x = self._cached()
        self.weight.grad += x.T @ grad_out
        return grad_out @ self.weight.data.T


def test_report_is_readable_and_small_for_correct_layer(f64):
    report = gradcheck(nn.Conv2D(2, 3, 3, stride=2, padding=1), B.normal((2, 2, 5, 5)))
    text = str(report)
    assert "input" in text and "weight" in text and "bias" in text and "max rel err" in text
    assert report.max_rel < 1e-7
    assert report["weight"].checked == 3 * 2 * 3 * 3


def test_catches_wrong_input_gradient(f64):
    report = gradcheck(BrokenTanh(), B.normal((3, 4)))
    assert not report.ok(1e-6)
    assert report["input"].max_rel > 0.01


def test_catches_missing_parameter_gradient(f64):
    report = gradcheck(ForgetsBias(3, 2), B.normal((4, 3)))
    assert report["input"].max_rel < 1e-7 and report["weight"].max_rel < 1e-7
    assert report["bias"].max_rel > 0.5


def test_catches_wrong_loss_gradient(f64):
    def half_grad(logits, targets):
        loss, grad = sigmoid_cross_entropy(logits, targets)
        return loss, grad * 0.5

    assert gradcheck_loss(sigmoid_cross_entropy, B.normal((5,)), 1.0).ok()
    assert not gradcheck_loss(half_grad, B.normal((5,)), 1.0).ok()


def test_insists_on_float64(backend_name):
    with pytest.raises(TypeError, match="need float64"):
        gradcheck(nn.Dense(2, 2), B.normal((3, 2)))


def test_restores_running_stats_and_samples_subsets(f64):
    bn = nn.BatchNorm(3)
    before = B.to_numpy(bn.running_mean, copy=True)
    report = gradcheck(bn, B.normal((4, 3, 3, 3)) + 5, max_checks=10)
    assert report.ok()
    assert report["input"].checked == 10
    assert (B.to_numpy(bn.running_mean) == before).all()
