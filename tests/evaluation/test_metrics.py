import math

import numpy as np
import pytest

from npgan import backend as B
from npgan.data import get_dataset
from npgan.evaluation.metrics import latent_mode_map, mmd2, mode_assignment, mode_metrics, mode_shares, off_mode_profile, reverse_kl

RING = get_dataset("ring8")


def test_all_modes_evenly_covered():
    x = np.repeat(RING.modes(), 100, axis=0) + 0.001
    m = mode_metrics(x, RING.modes(), RING.std)
    assert m == {"modes": 8, "n_modes": 8, "high_quality": 1.0, "reverse_kl": pytest.approx(0.0, abs=1e-12)}


def test_one_mode_only():
    x = np.repeat(RING.modes()[:1], 500, axis=0)
    m = mode_metrics(x, RING.modes(), RING.std)
    assert m["modes"] == 1 and m["high_quality"] == 1.0
    assert m["reverse_kl"] == pytest.approx(math.log(8))


def test_off_mode_noise_is_not_high_quality():
    x = np.full((300, 2), 0.5)  # between the modes: 0.5..0.7 away from each
    m = mode_metrics(x, RING.modes(), RING.std)
    assert m["modes"] == 0 and m["high_quality"] == 0.0 and m["reverse_kl"] == pytest.approx(math.log(8))


def test_mixed_sets():
    x = np.concatenate([np.repeat(RING.modes()[:4], 50, axis=0),  # 4 modes, 200 samples
                        np.full((200, 2), 3.0)])                  # 200 far away
    m = mode_metrics(x, RING.modes(), RING.std)
    assert m["modes"] == 4 and m["high_quality"] == 0.5
    assert m["reverse_kl"] == pytest.approx(math.log(2))  # uniform over half the modes


def test_real_data_scores_as_expected(backend_name):
    B.seed(0)
    m = mode_metrics(RING.sample(2500), RING.modes(), RING.std)
    # P(|N(0, s^2 I_2)| <= 3s) = 1 - exp(-4.5) = 0.9889 for 2-D Gaussians
    assert m["modes"] == 8 and abs(m["high_quality"] - (1 - math.exp(-4.5))) < 0.01


def test_mmd2_separates_distributions(backend_name):
    B.seed(1)
    same = mmd2(RING.sample(800), RING.sample(800))
    shifted = mmd2(RING.sample(800), RING.sample(800) + 0.3)
    assert abs(same) < 0.01 < shifted


def test_shape_error():
    with pytest.raises(ValueError, match=r"expected samples of shape \(n, 2\), received \(5, 3\)"):
        mode_metrics(np.zeros((5, 3)), RING.modes(), RING.std)


# ----------------------------------------------------------------------------- image metrics
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from npgan.evaluation.metrics import class_coverage, feature_stats, frechet_distance  # noqa: E402


def _random_cov(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T + 0.1 * np.eye(d)


@given(d=st.integers(1, 8), seed=st.integers(0, 10_000))
def test_frechet_distance_matches_the_eigenvalues_of_the_product(d, seed):
    """Tr((S_a S_b)^{1/2}) = sum sqrt(eig(S_a S_b)) (real, non-negative): an independent route."""
    rng = np.random.default_rng(seed)
    mu_a, mu_b = rng.normal(size=d), rng.normal(size=d)
    s_a, s_b = _random_cov(rng, d), _random_cov(rng, d)
    tr_cross = np.sqrt(np.linalg.eigvals(s_a @ s_b).real.clip(0)).sum()
    expected = ((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * tr_cross
    fd = frechet_distance((mu_a, s_a), (mu_b, s_b))
    assert fd == pytest.approx(expected, rel=1e-8, abs=1e-8)
    assert frechet_distance((mu_b, s_b), (mu_a, s_a)) == pytest.approx(fd, rel=1e-8, abs=1e-8)
    assert frechet_distance((mu_a, s_a), (mu_a, s_a)) == pytest.approx(0.0, abs=1e-8 * np.trace(s_a))


def test_frechet_distance_of_diagonal_gaussians_is_closed_form():
    """For diagonal covariances: |mu_a - mu_b|^2 + sum (sigma_a - sigma_b)^2."""
    mu_a, mu_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    sd_a, sd_b = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 1.0])
    fd = frechet_distance((mu_a, np.diag(sd_a ** 2)), (mu_b, np.diag(sd_b ** 2)))
    assert fd == pytest.approx(5.0 + 1.0 + 0.0 + 4.0, rel=1e-12)


def test_frechet_distance_from_samples():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20000, 4))
    same = frechet_distance(feature_stats(a), feature_stats(rng.normal(size=(20000, 4))))
    shifted = frechet_distance(feature_stats(a), feature_stats(rng.normal(size=(20000, 4)) + [3, 0, 0, 0]))
    assert same < 0.01
    assert shifted == pytest.approx(9.0, rel=0.02)


def test_feature_stats_rejects_bad_input():
    with pytest.raises(ValueError, match=r"feature_stats: expected features of shape \(n >= 2, d\)"):
        feature_stats(np.zeros(5))


def test_class_coverage():
    even = class_coverage(np.arange(1000) % 10, 10)
    assert even["class_coverage"] == pytest.approx(1.0)
    assert even["classes_covered"] == 10
    collapsed = class_coverage(np.full(500, 3), 10)
    assert collapsed["class_coverage"] == pytest.approx(0.1)
    assert collapsed["classes_covered"] == 1
    assert collapsed["class_histogram"][3] == 1.0
    half = class_coverage(np.arange(1000) % 5, 10)
    assert half["class_coverage"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"class_coverage: expected labels in \[0, 10\)"):
        class_coverage(np.array([0, 10]), 10)


def test_off_mode_profile_splits_tails_from_between_mode_samples():
    modes, std = np.array([[0.0, 0.0], [1.0, 0.0]]), 0.01
    on_mode = np.repeat(modes, 40, axis=0)                      # 80 samples at distance 0
    tails = np.array([[0.04, 0.0]] * 10)                        # 4 std from mode 0
    bridge = np.array([[0.5, 0.0]] * 10)                        # 50 std from both
    r = off_mode_profile(np.concatenate([on_mode, tails, bridge]), modes, std)
    assert r["high_quality"] == 0.8 and r["tails"] == 0.1 and r["between"] == 0.1
    assert np.isclose(r["spread"], np.sqrt(10 * 16 / 90 / 2))  # rms over the 90 near-mode samples


def test_off_mode_profile_of_data_matches_the_rayleigh_tail():
    # 2-D Gaussian data around its own modes: P(d > 3 std) = exp(-9/2) = 1.11%, spread 1
    rng = np.random.default_rng(0)
    modes, std = np.array([[0.0, 0.0], [1.0, 1.0]]), 0.05
    x = modes[rng.integers(0, 2, 200_000)] + rng.normal(0, std, (200_000, 2))
    r = off_mode_profile(x, modes, std)
    assert abs(r["tails"] - np.exp(-4.5)) < 0.001 and r["between"] == 0
    assert abs(r["spread"] - 1.0) < 0.01
    assert abs(r["high_quality"] - mode_metrics(x, modes, std)["high_quality"]) < 1e-12


class _QuadrantGenerator:
    """A stand-in trainer whose G sends z to ring modes by quadrant: z2 > 0.1 -> mode 2 (0, 1);
    below, z1 < 0 -> mode 4 (-1, 0) and z1 >= 0 -> mode 0 (1, 0); |z2| <= 0.1 -> the origin,
    1 away from every mode (not high quality). Modes 1, 3, 5, 6, 7 are never reached."""

    latent_dim = 2

    def __init__(self, noise):
        self.noise = noise

    def sample(self, n, z):
        xp = B.get_backend()
        assert z.shape == (n, 2) and z.dtype == B.get_dtype()
        modes = B.asarray(RING.modes())
        idx = xp.where(z[:, 1] > 0.1, 2, xp.where(z[:, 0] < 0, 4, 0))
        return xp.where((xp.abs(z[:, 1]) <= 0.1)[:, None], 0.0, modes[idx])


def test_mode_assignment_marks_off_mode_samples():
    modes = RING.modes()
    x = np.concatenate([modes[[3, 3, 5]], [[0.0, 0.0], modes[1] + 4 * RING.std]])
    assert mode_assignment(x, modes, RING.std).tolist() == [3, 3, 5, -1, -1]


def test_reverse_kl_to_uniform_is_0_for_even_shares_and_log_k_for_one_mode():
    assert reverse_kl([1 / 8] * 8) == pytest.approx(0.0, abs=1e-12)
    assert reverse_kl([0, 0, 1, 0, 0, 0, 0, 0]) == pytest.approx(math.log(8))
    assert reverse_kl([0.5, 0.5, 0, 0]) == pytest.approx(math.log(2))  # half the modes, evenly


def test_mode_shares_count_every_sample_by_its_nearest_mode_without_a_threshold():
    modes = RING.modes()
    # mode 3 twice, mode 5 once, and a sample far from every mode but nearest to mode 1
    x = np.concatenate([modes[[3, 3, 5]], [modes[1] * 3]])
    shares = mode_shares(x, modes)
    assert shares.shape == (8,) and shares.sum() == pytest.approx(1.0)
    assert shares.tolist() == [0, 0.25, 0, 0.5, 0, 0.25, 0, 0]
    with pytest.raises(ValueError, match="mode_shares"):
        mode_shares(np.zeros((4, 3)), modes)


@pytest.mark.parametrize("noise, extent", [("uniform", 1.0), ("normal", 3.0)])
def test_latent_mode_map_lays_out_z_with_z1_across_and_z2_up(backend_name, noise, extent):
    assign, ext = latent_mode_map(_QuadrantGenerator(noise), RING, n=40)  # no z on a boundary
    assert ext == extent and assign.shape == (40, 40)
    z = np.linspace(-extent, extent, 40)
    top, middle, bottom = z > 0.1, np.abs(z) <= 0.1, z < -0.1
    assert (assign[top] == 2).all() and (assign[middle] == -1).all()
    assert (assign[np.ix_(bottom, z < 0)] == 4).all() and (assign[np.ix_(bottom, z >= 0)] == 0).all()
    assert set(np.unique(assign)) == {-1, 0, 2, 4}


def test_latent_mode_map_needs_a_2d_latent_and_2d_data():
    g = _QuadrantGenerator("normal")
    g.latent_dim = 3
    with pytest.raises(ValueError, match="latent_dim 3"):
        latent_mode_map(g, RING)
    with pytest.raises(ValueError, match="data dim 1"):
        latent_mode_map(_QuadrantGenerator("normal"), get_dataset("gauss1d"))
