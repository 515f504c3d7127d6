"""A new activation added the way ``docs/guides/extending.md`` says, put through the generic
contract checks: a correct one passes, and each way of getting its second order wrong fails."""

import pytest
from test_contract import check_layer_contract

from npgan import backend as B
from npgan import nn
from npgan.gan.penalties import gradient_penalty


class ELU(nn.Activation):
    r"""$f(x) = x$ for $x > 0$, $\alpha (e^x - 1)$ otherwise; $f' = 1$ or $y + \alpha$, $f'' = 0$ or $y + \alpha$."""

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = float(alpha)

    def _forward(self, x, training):
        xp = B.get_backend()
        y = xp.where(x > 0, x, self.alpha * (xp.exp(xp.minimum(x, 0)) - 1))
        return y, (x > 0, y)

    def _backward(self, grad_out, cache):
        positive, y = cache
        return grad_out * B.get_backend().where(positive, 1.0, y + self.alpha)

    def _curvature(self, grad_out, ggx, cache):
        positive, y = cache
        return ggx * grad_out * B.get_backend().where(positive, 0.0, y + self.alpha)


class ELUWrongCurvature(ELU):
    def _curvature(self, grad_out, ggx, cache):
        return None  # claims f'' = 0, as a piecewise-linear activation would


class ELUWithoutCurvature(nn.Activation):
    _forward, _backward = ELU._forward, ELU._backward
    alpha = 1.0


class ELUOnTanh(nn.Tanh):  # inherits Tanh's second derivative, not its own
    _forward, _backward = ELU._forward, ELU._backward
    alpha = 1.0


def test_a_correct_activation_passes_the_generic_checks(f64):
    check_layer_contract(ELU)


def test_a_wrong_second_derivative_fails_them(f64):
    with pytest.raises(AssertionError, match=r"(?s)ELUWrongCurvature.*double backward"):
        check_layer_contract(ELUWrongCurvature)


@pytest.mark.parametrize("cls", [ELUWithoutCurvature, ELUOnTanh], ids=lambda c: c.__name__)
def test_a_second_order_pass_is_never_inherited_silently(f64, cls):
    layer = cls()
    assert cls.__name__ in layer.second_order_refusal()
    critic = nn.Sequential(nn.Dense(2, 4), layer, nn.Dense(4, 1))
    with pytest.raises(ValueError, match=f"gradient_penalty: {cls.__name__} "):
        gradient_penalty(critic, B.normal((3, 2)), B.normal((3, 2)))
    check_layer_contract(cls)  # the other checks still hold; the second order is refused by name


def test_a_new_forward_pass_needs_its_own_backward():
    with pytest.raises(TypeError, match="defines _forward but not _backward"):
        class Half(nn.Tanh):
            def _forward(self, x, training):
                return x / 2, None
