"""The checker itself: it passes correct layers and catches broken ones, and says how they are broken."""

import numpy as np
import pytest

from npgan import backend as B
from npgan import nn
from npgan.gradcheck import GradcheckError, double_gradcheck, gradcheck, gradcheck_loss, numerical_gradient, probe
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


class DoublesBias(nn.Dense):
    """The bias gradient twice over: a wrong gradient whose expected and received values are known."""

    def backward(self, grad_out):
        x = self._cached()
        self.weight.grad += x.T @ grad_out
        self.bias.grad += 2 * grad_out.sum(axis=0)
        return grad_out @ self.weight.data.T


class AssignsWeight(nn.Dense):
    """Right gradients, assigned to .grad in place instead of added."""

    def backward(self, grad_out):
        x = self._cached()
        self.weight.grad[...] = x.T @ grad_out
        self.bias.grad += grad_out.sum(axis=0)
        return grad_out @ self.weight.data.T


class RebindsBias(nn.Dense):
    """Right gradients, the bias's a new array bound to .grad."""

    def backward(self, grad_out):
        x = self._cached()
        self.weight.grad += x.T @ grad_out
        self.bias.grad = grad_out.sum(axis=0)
        return grad_out @ self.weight.data.T


class AssignsInDoubleBackward(nn.Dense):
    def double_backward(self, ggx, grad_out):
        self.weight.grad[...] = ggx.T @ grad_out
        return ggx @ self.weight.data, None


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


def test_a_correct_layer_passes_every_row(f64):
    report = gradcheck(nn.Dense(3, 2), B.normal((4, 3)))
    assert report.check() is report
    lines = str(report).splitlines()
    assert lines[0] == "gradient check of Dense(3->2): PASS at relative tolerance 1e-06"
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert set(rows) == {"input", "weight", "bias"}
    assert all(row[-1] == "PASS" for row in rows.values())
    assert rows["input"][-2] == "-" and rows["weight"][-2] == rows["bias"][-2] == "yes"
    assert report["weight"].add_err < 1e-12 and report["input"].add_err is None


def test_a_wrong_gradient_is_named_with_its_worst_entries_expected_and_received(f64):
    """The bias gradient is doubled: each listed entry received twice what it expected, the
    expected being the central difference of the probe, and the error raised says so."""
    layer, x = DoublesBias(3, 4), B.normal((5, 3))
    report = gradcheck(layer, x)
    assert [r.name for r in report.failures()] == ["bias"]
    worst = report["bias"].worst
    assert len(worst) == 3 and worst[0].abs_err == report["bias"].max_abs
    assert worst[0].rel_err == pytest.approx(report["bias"].max_rel)
    r = probe((x.shape[0], layer.out_features))
    numeric, _ = numerical_gradient(lambda: float((nn.Dense.forward(layer, x) * r).sum()), layer.bias.data)
    for e in worst:
        assert e.expected == pytest.approx(float(B.to_numpy(numeric)[e.index]), rel=1e-6)
        assert e.received == pytest.approx(2 * e.expected, rel=1e-6)
    with pytest.raises(GradcheckError) as caught:
        report.check()
    text = str(caught.value)
    assert "FAIL (bias)" in text and "bias: the worst entries" in text
    assert f"{worst[0].expected:.6e}" in text and f"{worst[0].received:.6e}" in text
    assert str(worst[0].index) in text


@pytest.mark.parametrize("layer_class, name", [(AssignsWeight, "weight"), (RebindsBias, "bias")])
def test_a_backward_that_assigns_instead_of_adding_fails(f64, layer_class, name):
    """Its gradient is right from a zeroed .grad, so only the addition check can see it."""
    report = gradcheck(layer_class(3, 2), B.normal((4, 3)))
    assert report.max_rel < 1e-7  # every gradient right
    assert not report.ok() and [r.name for r in report.failures()] == [name]
    assert report[name].add_err > 0.1
    text = str(report)
    assert f"{name}: the pass assigns its gradient to .grad instead of adding it" in text
    row = next(line for line in text.splitlines() if line.startswith(name))
    assert row.split()[-2:] == ["NO", "FAIL"]
    with pytest.raises(GradcheckError, match="instead of adding it"):
        report.check()


def test_a_double_backward_that_assigns_fails(f64):
    assert double_gradcheck(nn.Dense(3, 2), B.normal((4, 3))).ok()
    report = double_gradcheck(AssignsInDoubleBackward(3, 2), B.normal((4, 3)))
    assert report.max_rel < 1e-7 and [r.name for r in report.failures()] == ["weight"]


def test_a_loss_report_is_titled_by_its_name_and_a_nan_gradient_fails(f64):
    def nan_grad(logits, targets):
        loss, grad = sigmoid_cross_entropy(logits, targets)
        return loss, grad * float("nan")

    report = gradcheck_loss(nan_grad, B.normal((3,)), 1.0, name="the loss")
    assert str(report).startswith("gradient check of the loss: FAIL (input)")
    assert not report.ok()


def test_the_probe_is_not_an_input_drawn_from_the_same_seed(f64):
    """backend.seed(0) and gradcheck's seed 0 start different streams: were the probe the input
    itself, BatchNorm's input gradient along it would vanish and the check would see nothing."""
    B.seed(0)
    x = B.normal((6, 3))
    assert not np.allclose(B.to_numpy(probe((6, 3))), B.to_numpy(x))
    report = gradcheck(nn.BatchNorm(3), x)
    assert report.ok()
    assert max(abs(e.expected) for e in report["input"].worst) > 1e-2
