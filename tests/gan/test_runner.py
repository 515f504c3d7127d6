import json
import os
import subprocess
import sys

import numpy as np
import pytest

from npgan import backend as B
from npgan.cli import main
from npgan.gan.runner import load_run, make_config, train


def small(**kw):
    base = dict(data="ring8", steps=20, log_every=5, hidden=16, depth=2, batch_size=32,
                eval_samples=200, eval_mmd=100)
    base.update(kw)
    return make_config(**base)


@pytest.mark.parametrize("trainer", ["gan", "mmd"])
def test_resume_equals_uninterrupted(tmp_path, trainer):
    cfg = small(trainer=trainer, pack=2 if trainer == "gan" else 1)
    train(cfg, tmp_path / "full", progress=False, plots=False)
    train(cfg, tmp_path / "cut", progress=False, plots=False, until=10)
    assert load_run(tmp_path / "cut" / "checkpoint.npz")[0].step == 10
    train(cfg, tmp_path / "cut", resume=True, progress=False, plots=False)
    a = np.load(tmp_path / "full" / "checkpoint.npz")
    b = np.load(tmp_path / "cut" / "checkpoint.npz")
    assert sorted(a.files) == sorted(b.files)
    for k in a.files:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    full_log = (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()
    cut_log = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    assert len(full_log) == len(cut_log) == 4
    assert [json.loads(x)["step"] for x in cut_log] == [5, 10, 15, 20]


def test_cli_train_sample_evaluate(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", "grid25", "--out", str(out), "--steps", "10", "--log-every", "5",
                 "--hidden", "16", "--depth", "1", "--batch-size", "32", "--no-progress"]) == 0
    for f in ("checkpoint.npz", "metrics.jsonl", "samples.png", "losses.png"):
        assert (out / f).stat().st_size > 0, f
    final = json.loads(capsys.readouterr().out.splitlines()[0])
    assert final["step"] == 10 and final["n_modes"] == 25
    assert main(["sample", str(out / "checkpoint.npz"), "-n", "50", "-o", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (50, 2)
    capsys.readouterr()
    assert main(["evaluate", str(out / "checkpoint.npz"), "-n", "300"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["step"] == 10 and set(result) >= {"modes", "high_quality", "reverse_kl", "mmd2"}


def test_cli_resume_extends_a_run(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--hidden", "8", "--depth", "1", "--batch-size", "16", "--log-every", "5", "--no-progress"]
    assert main(["train", "--out", str(out), "--steps", "5"] + args) == 0
    assert main(["train", "--resume", str(out), "--steps", "10", "--no-progress"]) == 0
    assert load_run(out / "checkpoint.npz")[0].step == 10


@pytest.mark.parametrize("argv,message", [
    (["train", "--data", "mnist", "--out", "x"], "unknown data set 'mnist'"),
    (["train", "--steps", "-5", "--out", "x"], "expected a positive integer, got -5"),
    (["train", "--data", "ring8"], "train needs --out DIR"),
    (["evaluate", "missing.npz"], "no such checkpoint file: missing.npz"),
    (["evaluate", "x.npz", "--backend", "cupy"], "backend 'cupy' is unavailable"),
])
def test_cli_bad_input_gives_one_line_error(tmp_path, capsys, argv, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if "cupy" in argv and B.cupy_available():
        pytest.skip("cupy is usable here: no error to show")
    with pytest.raises(SystemExit) if "--steps" in argv else _no_raise():
        code = main(argv)
        assert code == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("npgan: error: ")
    if message:
        assert message in lines[0]
    B.set_backend("numpy")


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_cli_unreadable_checkpoint(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_text("garbage")
    assert main(["evaluate", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot read" in err[0]
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    assert main(["sample", str(tmp_path / "other.npz")]) == 2
    assert "not a training checkpoint" in capsys.readouterr().err


def test_python_dash_m_entry_point(tmp_path):
    r = subprocess.run([sys.executable, "-m", "npgan", "train", "--data", "nope", "--out", str(tmp_path)],
                       capture_output=True, text=True, env={**os.environ, "NPGAN_BACKEND": "numpy"})
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "unknown data set" in r.stderr
