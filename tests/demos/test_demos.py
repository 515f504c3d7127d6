"""Smoke tests: each demo runs end to end with tiny settings and writes its figures."""

import importlib
import pathlib
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

ROOT = pathlib.Path(__file__).resolve().parents[2]


def load(name):
    """The demo ``demos.NAME``, the module ``python -m demos.NAME`` runs."""
    return importlib.import_module(f"demos.{name}")


def test_a_demo_runs_as_a_module_from_the_repository_root(tmp_path):
    out = subprocess.run([sys.executable, "-m", "demos.saturation", "--steps", "16", "--out", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "saturation_sgd.png").stat().st_size > 10_000


def test_gaussian_1d(tmp_path, backend_name):
    load("gaussian_1d").main(["--steps", "30", "--d-steps", "2", "--out", str(tmp_path)])
    assert (tmp_path / "stages.png").stat().st_size > 10_000
    assert (tmp_path / "transform.png").stat().st_size > 10_000


def test_saturation(tmp_path, capsys, backend_name):
    load("saturation").main(["--steps", "16", "--out", str(tmp_path)])
    assert (tmp_path / "saturation_sgd.png").stat().st_size > 10_000
    out = capsys.readouterr().out
    assert "minimax" in out and "non_saturating" in out


def test_mode_collapse(tmp_path, capsys, backend_name):
    demo = load("mode_collapse")
    rows = demo.main(["--quick", "--jobs", "1", "--out", str(tmp_path)])
    for name in ("mode_hopping.png", "mode_collapse.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    lines = [r for r in (tmp_path / "metrics.md").read_text().splitlines() if r.startswith("| ")]
    assert [r.split(" | ")[0][2:] for r in lines[1:]] == [name for name, _ in demo.TRAINERS]
    assert len(rows) == len(demo.TRAINERS)
    for run in rows:
        assert run["steps"].tolist() == [50, 100, 150, 200]
        assert run["shares"].shape == (4, 8) and abs(run["shares"].sum(axis=1) - 1).max() < 1e-12
        assert len(run["samples"]) == 4 and run["samples"][0].shape == (demo.SNAPSHOT_SAMPLES, 2)


def test_mode_collapse_counts_hops_of_a_collapsed_lump_only():
    demo = load("mode_collapse")
    lump = lambda k: [1.0 if i == k else 0.0 for i in range(8)]  # noqa: E731
    even = [1 / 8] * 8
    hopping = np.array([lump(0), lump(1), lump(1), lump(7), even, lump(3)])
    assert demo.hops(hopping) == 2  # 0 -> 1 and 1 -> 7; nothing counts beside the spread snapshot
    assert demo.hops(np.array([even, [0.2] + [0.8 / 7] * 7, even])) == 0
    spread, collapsed = demo.share_summary(np.array(even)), demo.share_summary(np.array(lump(5)))
    assert spread == {"fullest": 0.125, "held": 8, "kl": pytest.approx(0.0, abs=1e-12)}
    assert collapsed == {"fullest": 1.0, "held": 1, "kl": pytest.approx(np.log(8))}


def test_divergences_writes_its_figure_and_table(tmp_path, backend_name, monkeypatch):
    demo = load("divergences")
    monkeypatch.setattr(demo, "LOSSES", ("non_saturating", "hinge"))
    monkeypatch.setattr(demo, "PAIRS", {"N(0, 1) vs N(mu, 1)": demo.PAIRS["N(0, 1) vs N(mu, 1)"]})
    demo.main(["--steps", "20", "--quick", "--out", str(tmp_path)])
    assert (tmp_path / "divergences.png").stat().st_size > 10_000
    rows = [r for r in (tmp_path / "divergences.md").read_text().splitlines() if r.startswith("| N(0")]
    assert len(rows) == 2 and rows[0].count("(") == 4 + 2  # four values of mu, plus the pair's "(0, 1)" and "(mu, 1)"


@pytest.mark.parametrize("loss", ["non_saturating", "least_squares", "hinge", "wasserstein"])
def test_each_loss_reads_off_its_divergence(loss):
    """A discriminator trained alone on N(0, 1) against N(mu, 1) gives, through the map its
    loss's docstring derives, the divergence's integral: JSD and chi2 within 0.01, TV within
    0.03 (a smooth D approximates sign(p_data - p_g)). The Wasserstein critic under the soft
    penalty lambda (||grad f|| - 1)^2 takes the slope 1 + mu / (2 lambda) for this pair, so its
    estimate is W1 (1 + mu / (2 lambda)), which it must match within 0.05."""
    demo = load("divergences")
    for mu in (0.5, 1.5):
        est, exact = demo.estimate(loss, "N(0, 1) vs N(mu, 1)", mu, steps=600, n_eval=20_000)
        if loss == "wasserstein":
            assert exact == pytest.approx(mu, abs=1e-6)
            assert est == pytest.approx(mu * (1 + mu / (2 * demo.GP[loss])), abs=0.05)
        else:
            assert est == pytest.approx(exact, abs=0.03 if loss == "hinge" else 0.01), mu
