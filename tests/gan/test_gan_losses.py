"""The losses of the game: every registered loss through the generic checks (gradients against
central differences, values against its own closed form, its equilibrium lines), then what is
particular to some."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import assert_gan_loss_closed_form, assert_gan_loss_equilibrium, assert_gan_loss_gradients
from npgan import backend as B
from npgan.gan import GAN_LOSSES, GANTrainer, make_loss, mlp_discriminator, mlp_generator
from npgan.gan.losses import LeastSquaresLoss

# every registered loss, and the settings some of them take
CONFIGURED = [make_loss(n) for n in sorted(GAN_LOSSES)] + [
    LeastSquaresLoss(a=-1.0, b=1.0, c=0.0), make_loss("minimax", label_smoothing=0.1),
    make_loss("non_saturating", label_smoothing=0.2)]


@pytest.mark.parametrize("loss", CONFIGURED, ids=repr)
@settings(max_examples=15)
@given(n=st.integers(1, 9), scale=st.sampled_from([0.5, 3.0]))
def test_gradients_match_central_differences(f64, loss, n, scale):
    assert_gan_loss_gradients(loss, B.normal((n, 1)) * scale, B.normal((n, 1)) * scale)


@pytest.mark.parametrize("loss", CONFIGURED, ids=repr)
def test_a_constant_discriminator_gives_the_closed_form(f64, loss):
    assert_gan_loss_closed_form(loss)


@pytest.mark.parametrize("loss", CONFIGURED, ids=repr)
def test_equilibrium_lines_are_the_figures_at_the_optimal_d_for_p_g_equal_p_data(f64, loss):
    assert_gan_loss_equilibrium(loss)


def test_every_loss_without_label_smoothing_draws_d_s_equilibrium_line():
    for name in GAN_LOSSES:
        assert "d_loss" in make_loss(name).equilibrium(), name
    assert make_loss("minimax", label_smoothing=0.1).equilibrium() == {}  # D* is not 1/2 there


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


def test_the_relativistic_loss_sees_both_batches_pair_by_pair(f64):
    """D's gradients on a pair are each other's negatives; G's gradient on a fake depends on
    its real partner, sigma(D(x_n) - D(G(z_n))) / N: where the fake trails, G's signal is strong."""
    loss = make_loss("relativistic")
    assert loss.joint
    real, fake = B.asarray(np.array([[2.0], [0.0], [-1.0]])), B.asarray(np.array([[0.0], [0.0], [1.0]]))
    _, g_real, g_fake = loss.discriminator(real, fake)
    np.testing.assert_array_equal(B.to_numpy(g_real), -B.to_numpy(g_fake))
    _, g = loss.generator(fake, real)
    sigma = 1 / (1 + np.exp(-np.array([2.0, 0.0, -2.0])))
    np.testing.assert_allclose(B.to_numpy(g)[:, 0], -sigma / 3, rtol=1e-12)


def test_the_relativistic_loss_refuses_unpaired_batches_and_a_missing_real_batch(f64):
    loss = make_loss("relativistic")
    with pytest.raises(ValueError, match="compared pair by pair"):
        loss.discriminator(B.normal((4, 1)), B.normal((3, 1)))
    with pytest.raises(ValueError, match="pass D's outputs on the real batch"):
        loss.generator(B.normal((4, 1)))


def test_bad_choices_are_refused():
    with pytest.raises(ValueError, match="unknown GAN loss 'energy'"):
        make_loss("energy")
    with pytest.raises(ValueError, match="the hinge loss has no label smoothing"):
        make_loss("hinge", label_smoothing=0.1)
    with pytest.raises(ValueError, match="the relativistic loss has no label smoothing"):
        make_loss("relativistic", label_smoothing=0.1)


@pytest.mark.parametrize("name", sorted(GAN_LOSSES))
def test_every_loss_trains(backend_name, name):
    from npgan.data import get_dataset
    B.seed(0)
    gan = GANTrainer(mlp_generator(2, 2, 16, 1), mlp_discriminator(2, 16, 1), 2, loss=name)
    ds = get_dataset("ring8")
    stats = [gan.train_step(ds.sample(32)) for _ in range(3)]
    assert all(math.isfinite(float(s[k])) for s in stats for k in ("d_loss", "g_loss", "d_real", "d_fake"))
