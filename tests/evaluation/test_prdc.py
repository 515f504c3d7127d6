"""Precision/recall, density/coverage and KID against the papers' definitions, written as plain loops."""

import json
import math

import numpy as np
import pytest

from helpers import synthetic_fashion
from npgan import backend as B
from npgan.cli import main
from npgan.data import fashion_mnist
from npgan.evaluation import classifier
from npgan.evaluation.metrics import density_coverage, kid, knn_radii, prdc, precision_recall
from npgan.gan.config import make_config
from npgan.gan.runner import train

RNG = np.random.default_rng(3)
REAL, FAKE = RNG.normal(size=(7, 3)), RNG.normal(size=(9, 3)) + 0.4


def radius(points, i, k):
    """Distance from points[i] to its k-th nearest other point."""
    return sorted(math.dist(points[i], q) for j, q in enumerate(points) if j != i)[k - 1]


def brute_prdc(real, fake, k_pr, k_dc):
    real, fake = real.tolist(), fake.tolist()
    r_pr = [radius(real, i, k_pr) for i in range(len(real))]
    r_dc = [radius(real, i, k_dc) for i in range(len(real))]
    f_pr = [radius(fake, j, k_pr) for j in range(len(fake))]
    precision = sum(any(math.dist(y, x) <= r for x, r in zip(real, r_pr)) for y in fake) / len(fake)
    recall = sum(any(math.dist(x, y) <= r for y, r in zip(fake, f_pr)) for x in real) / len(real)
    density = sum(math.dist(y, x) <= r for y in fake for x, r in zip(real, r_dc)) / (k_dc * len(fake))
    coverage = sum(min(math.dist(x, y) for y in fake) <= r for x, r in zip(real, r_dc)) / len(real)
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


def brute_mmd2_poly(x, y):
    d = len(x[0])
    kern = lambda u, v: (sum(a * b for a, b in zip(u, v)) / d + 1) ** 3  # noqa: E731
    n, m = len(x), len(y)
    xx = sum(kern(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(kern(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(kern(u, v) for u in x for v in y) / (n * m)
    return xx + yy - 2 * xy


@pytest.mark.parametrize("k_pr, k_dc", [(1, 1), (2, 3), (3, 5)])
def test_prdc_equals_the_definitions(k_pr, k_dc, backend_name):
    got = prdc(B.asarray(REAL), B.asarray(FAKE), k_pr, k_dc)
    assert got == pytest.approx(brute_prdc(REAL, FAKE, k_pr, k_dc), abs=1e-12)
    assert 0 < got["precision"] < 1 and 0 < got["coverage"] <= 1  # not a vacuous case
    assert precision_recall(REAL, FAKE, k_pr) == {k: got[k] for k in ("precision", "recall")}
    assert density_coverage(REAL, FAKE, k_dc) == pytest.approx(
        {k: brute_prdc(REAL, FAKE, k_pr, k_dc)[k] for k in ("density", "coverage")}, abs=1e-12)


def test_the_blocks_give_the_one_block_answer(backend_name):
    x, y = RNG.normal(size=(40, 5)), RNG.normal(size=(33, 5)) * 1.3
    whole = prdc(x, y)
    for block in (1, 7, 100):
        assert prdc(x, y, block=block) == whole
    assert np.allclose(B.to_numpy(knn_radii(x, 4, block=3)), B.to_numpy(knn_radii(x, 4)), rtol=1e-12, atol=0)  # BLAS rounding
    assert kid(x, y, subsets=5, subset_size=20, block=1) == pytest.approx(kid(x, y, subsets=5, subset_size=20), rel=1e-12)


def test_knn_radii_leave_the_sample_itself_out():
    x = np.array([[0.0], [1.0], [3.0], [7.0]])
    assert B.to_numpy(knn_radii(x, 2)).tolist() == [[1, 9], [1, 4], [4, 9], [16, 36]]  # squared distances


def test_limits():
    x = RNG.normal(size=(50, 4))
    same = prdc(x, x.copy())
    assert {k: same[k] for k in ("precision", "recall", "coverage")} == {"precision": 1.0, "recall": 1.0, "coverage": 1.0}
    # each fake is its own twin's ball plus k = 5 neighbours' (bar ties at a radius, rounded either way)
    assert same["density"] == pytest.approx(6 / 5, abs=0.01)
    assert prdc(x, x + 100.0) == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    same = prdc(RNG.normal(size=(1000, 2)), RNG.normal(size=(1000, 2)))  # one distribution: density about 1
    assert same["density"] == pytest.approx(1.0, abs=0.1) and min(same.values()) > 0.8


def test_kid_equals_the_unbiased_mmd2_of_its_definition():
    got = kid(REAL, FAKE[:7], subsets=3, subset_size=50)  # each subset is the whole of both sets
    assert got["kid"] == pytest.approx(brute_mmd2_poly(REAL.tolist(), FAKE[:7].tolist()), rel=1e-10)
    assert got["kid_std"] == pytest.approx(0.0, abs=1e-12)


def test_kid_near_zero_for_one_distribution_and_positive_for_two(backend_name):
    a, b = RNG.normal(size=(600, 8)), RNG.normal(size=(600, 8))
    same = kid(a, b, subsets=20, subset_size=200)
    apart = kid(a, b * 1.5 + 0.5, subsets=20, subset_size=200)
    assert abs(same["kid"]) < 3 * same["kid_std"] + 1e-3 and apart["kid"] > 10 * max(abs(same["kid"]), same["kid_std"])
    assert kid(a, b, subsets=20, subset_size=200) == same  # seeded: the same subsets each call
    assert kid(a, b, subsets=20, subset_size=200, seed=1) != same


def test_kid_leaves_npgans_random_state_unchanged():
    B.seed(11)
    expected = B.normal((4,)).tolist()
    B.seed(11)
    kid(REAL, FAKE, subsets=4, subset_size=5)
    assert B.normal((4,)).tolist() == expected


def test_a_real_and_a_fake_set_of_different_widths_are_refused():
    with pytest.raises(ValueError, match="different sizes"):
        prdc(REAL, FAKE[:, :2])
    with pytest.raises(ValueError, match="k must be in"):
        knn_radii(REAL, 7)


def test_npgan_evaluate_prints_them_for_a_ring8_run(tmp_path, capsys):
    cfg = make_config(data="ring8", steps=4, log_every=2, hidden=8, depth=1, batch_size=16, eval_samples=100, eval_mmd=50)
    train(cfg, tmp_path / "run", progress=False, plots=False)
    logged = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"precision", "recall", "density", "coverage"} <= set(logged) and "kid" not in logged
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run"), "-n", "120"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"precision", "recall", "density", "coverage", "kid", "kid_std"} <= set(result)
    assert all(0 <= result[k] <= 1 for k in ("precision", "recall", "coverage")) and result["density"] >= 0


def test_an_image_run_logs_them_and_npgan_evaluate_adds_kid(tmp_path, capsys):
    folder = synthetic_fashion(tmp_path, n_train=200, n_test=100)
    clf = classifier.train(fashion_mnist("train", str(folder)), fashion_mnist("test", str(folder)),
                           epochs=1, batch_size=32, progress=False, log=lambda m: None).save(folder / "clf.npz")
    cfg = make_config(data="fashion-mnist", data_dir=str(folder), classifier=clf, steps=2, log_every=2, latent_dim=8,
                      batch_size=8, eval_samples=100, width=4)
    train(cfg, tmp_path / "run", progress=False, plots=False)
    logged = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"fd", "precision", "recall", "density", "coverage"} <= set(logged) and "kid" not in logged
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run")]) == 0  # the run's sample size: the logged values, exactly
    result = json.loads(capsys.readouterr().out)
    assert {k: result[k] for k in ("precision", "recall", "density", "coverage")} == \
        {k: logged[k] for k in ("precision", "recall", "density", "coverage")}
    assert result["kid"] > 0 and result["kid_std"] >= 0
