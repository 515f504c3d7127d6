"""The losses of the game: gradients against central differences, values pinned in closed form."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npgan import backend as B
from npgan.gan import GAN_LOSSES, GANTrainer, make_loss, mlp_discriminator, mlp_generator
from npgan.gan.losses import LeastSquaresLoss
from npgan.gradcheck import gradcheck_loss

PARTS = ("discriminator_real", "discriminator_fake", "generator")


@pytest.mark.parametrize("name", sorted(GAN_LOSSES))
@settings(max_examples=15)
@given(n=st.integers(1, 9), scale=st.sampled_from([0.5, 3.0]))
def test_gradients_match_central_differences(f64, name, n, scale):
    loss = make_loss(name)
    out = B.normal((n, 1)) * scale
    for part in PARTS:
        fn = getattr(loss, part)
        report = gradcheck_loss(lambda o, _t: fn(o), out, None)
        assert report.ok(1e-6), f"{name}.{part}\n{report}"


# (D's output c everywhere) -> values of (real term, fake term, G's loss) and N * their gradients
CLOSED_FORMS = {
    "non_saturating": (0.0, (math.log(2), math.log(2), math.log(2)), (-0.5, 0.5, -0.5)),
    "minimax": (0.0, (math.log(2), math.log(2), -math.log(2)), (-0.5, 0.5, -0.5)),
    "least_squares": (0.0, (0.5, 0.0, 0.5), (-1.0, 0.0, -1.0)),
    "hinge": (0.0, (1.0, 1.0, 0.0), (-1.0, 1.0, -1.0)),
    "wasserstein": (0.5, (-0.5, 0.5, -0.5), (-1.0, 1.0, -1.0)),
}


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_a_constant_discriminator_gives_the_closed_forms(f64, name):
    """Pins each loss, and the sign of each gradient: the minimax generator loss log(1 - D)
    and the non-saturating -log D differ here in value and in slope (-1/2 vs -1/2 per
    sample at D = 1/2, but log 2 vs -log 2)."""
    c, values, grads = CLOSED_FORMS[name]
    n = 8
    out = B.get_backend().full((n, 1), c, dtype=B.get_dtype())
    loss = make_loss(name)
    for part, value, grad in zip(PARTS, values, grads):
        v, g = getattr(loss, part)(out)
        assert float(v) == pytest.approx(value, abs=1e-12), part
        np.testing.assert_allclose(B.to_numpy(g), grad / n, atol=1e-12, err_msg=part)


@pytest.mark.parametrize("loss", [make_loss(n) for n in sorted(GAN_LOSSES)]
                         + [LeastSquaresLoss(a=-1.0, b=1.0, c=0.0), make_loss("minimax", label_smoothing=0.1)],
                         ids=repr)
def test_equilibrium_lines_are_the_losses_at_the_optimal_d_for_p_g_equal_p_data(f64, loss):
    """The reference lines the loss curves draw: each loss's own value where p_g = p_data and D
    is optimal (the cross-entropy D* = 1/2 is logit 0; least squares (a + b)/2; the hinge and
    the critic: any constant in [-1, 1], here 0.3)."""
    ref = loss.equilibrium()
    if loss.name in ("non_saturating", "minimax") and not getattr(loss, "label_smoothing", 0):
        out = 0.0
    elif loss.name == "least_squares":
        out = (loss.a + loss.b) / 2
    else:
        out = 0.3
    d = B.asarray(np.full((64, 1), out))
    value = {"d_loss": float(loss.discriminator_real(d)[0] + loss.discriminator_fake(d)[0]),
             "g_loss": float(loss.generator(d)[0]), "d_real": float(loss.probability(d).mean()),
             "d_fake": float(loss.probability(d).mean())}
    if getattr(loss, "label_smoothing", 0):
        assert ref == {}  # D* is not 1/2 there
    else:
        assert "d_loss" in ref
    for key, (line, label) in ref.items():
        assert value[key] == pytest.approx(line, abs=1e-12), (key, label)


def test_minimax_saturates_where_non_saturating_does_not(f64):
    """When D rejects the fakes (logit -8: D(G(z)) = 3e-4), the minimax generator gradient
    is ~D(G(z)) per sample, the non-saturating one ~1: the demo's point, pinned."""
    out = B.get_backend().full((4, 1), -8.0, dtype=B.get_dtype())
    g_mm = float(make_loss("minimax").generator(out)[1].sum())
    g_ns = float(make_loss("non_saturating").generator(out)[1].sum())
    assert abs(g_mm) == pytest.approx(1 / (1 + math.exp(8)), rel=1e-9)
    assert g_ns == pytest.approx(-(1 - 1 / (1 + math.exp(8))), rel=1e-9)


def test_label_smoothing_moves_the_real_targets_only(f64):
    loss = make_loss("non_saturating", label_smoothing=0.1)
    zero = B.get_backend().zeros((2, 1), dtype=B.get_dtype())
    np.testing.assert_allclose(B.to_numpy(loss.discriminator_real(zero)[1]), (0.5 - 0.9) / 2)
    np.testing.assert_allclose(B.to_numpy(loss.discriminator_fake(zero)[1]), (0.5 - 0.0) / 2)
    np.testing.assert_allclose(B.to_numpy(loss.generator(zero)[1]), (0.5 - 1.0) / 2)


def test_least_squares_targets_are_configurable(f64):
    loss = LeastSquaresLoss(a=-1.0, b=1.0, c=0.0)
    out = B.get_backend().zeros((4, 1), dtype=B.get_dtype())
    assert float(loss.discriminator_fake(out)[0]) == pytest.approx(0.5)
    assert float(loss.generator(out)[0]) == pytest.approx(0.0)


def test_bad_choices_are_refused():
    with pytest.raises(ValueError, match="unknown GAN loss 'relativistic'"):
        make_loss("relativistic")
    with pytest.raises(ValueError, match="the hinge loss has no label smoothing"):
        make_loss("hinge", label_smoothing=0.1)


@pytest.mark.parametrize("name", sorted(GAN_LOSSES))
def test_every_loss_trains(backend_name, name):
    from npgan.data import get_dataset
    B.seed(0)
    gan = GANTrainer(mlp_generator(2, 2, 16, 1), mlp_discriminator(2, 16, 1), 2, loss=name)
    ds = get_dataset("ring8")
    stats = [gan.train_step(ds.sample(32)) for _ in range(3)]
    assert all(math.isfinite(float(s[k])) for s in stats for k in ("d_loss", "g_loss", "d_real", "d_fake"))
