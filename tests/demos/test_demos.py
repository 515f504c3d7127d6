"""Smoke tests: each demo runs end to end with tiny settings and writes its figures."""

import importlib.util
import pathlib

import pytest

pytest.importorskip("matplotlib")

DEMOS = pathlib.Path(__file__).resolve().parents[2] / "demos"


def load(name):
    spec = importlib.util.spec_from_file_location(name, DEMOS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


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
    load("mode_collapse").main(["--steps", "20", "--stages", "2", "--data", "ring8", "--jobs", "1",
                                "--out", str(tmp_path)])
    assert (tmp_path / "mode_collapse.png").stat().st_size > 10_000
    table = (tmp_path / "metrics.md").read_text()
    assert table.count("| ring8 |") == 3
