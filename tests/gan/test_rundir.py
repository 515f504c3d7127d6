"""What a run folder guarantees, under misuse and faults (``npgan.gan.rundir``, the runner, the CLI)."""

import hashlib
import json
import os
import signal

import numpy as np
import pytest

from helpers import assert_same_training_state
from npgan.cli import main
from npgan.gan import runner
from npgan.gan.config import make_config
from npgan.gan.rundir import RunDir, RunDirError
from npgan.gan.runner import RunInterrupted, TrainingDiverged, from_checkpoint, train

SMALL = ["--hidden", "8", "--depth", "1", "--batch-size", "16", "--no-progress"]


def small(**kw):
    return make_config(**{**dict(data="ring8", steps=10, log_every=2, hidden=8, depth=1, batch_size=16,
                                 eval_samples=100, eval_mmd=50), **kw})


def digest(folder):
    return {f: hashlib.md5((folder / f).read_bytes()).hexdigest() for f in ("checkpoint.npz", "metrics.jsonl")}


def one_error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("npgan: error: "), lines
    return lines[0]


def test_a_fresh_run_over_an_existing_one_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--steps", "4", "--log-every", "2"] + SMALL) == 0
    before = digest(out)
    capsys.readouterr()
    assert main(["train", "--out", str(out), "--steps", "4", "--log-every", "2"] + SMALL) == 2
    line = one_error_line(capsys)
    assert "holds a run already" in line and "--resume" in line and "--overwrite" in line
    assert digest(out) == before
    assert main(["train", "--out", str(out), "--steps", "2", "--log-every", "2", "--overwrite"] + SMALL) == 0
    assert [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()] == [2]


def test_divergence_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    """Real data turns to NaN after the first logging interval: the run stops at the next logging
    step with a message naming it, exit status 3, and nothing non-finite reaches disk."""
    build = runner.build

    def poisoned(cfg):
        trainer, ds = build(cfg)
        sample, calls = ds.sample, [0]

        rows = trainer.rows_per_step(cfg["batch_size"])

        def sample_then_nan(n):  # training batches turn to NaN from the third step on
            x = sample(n)
            if n != rows:
                return x  # the evaluator's draws stay clean
            calls[0] += 1
            return x * float("nan") if calls[0] > 2 else x

        return trainer, type("Poisoned", (), {"sample": staticmethod(sample_then_nan), "dim": ds.dim,
                                              "n_modes": ds.n_modes, "name": ds.name,
                                              "__getattr__": lambda self, k: getattr(ds, k)})()

    monkeypatch.setattr(runner, "build", poisoned)
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--steps", "6", "--log-every", "2"] + SMALL) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "training diverged: at step 4" in err[0] and "last good checkpoint" in err[0]
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [2]
    state = np.load(out / "checkpoint.npz")
    assert int(state["step"]) == 2
    assert all(np.isfinite(state[k]).all() for k in state.files if state[k].dtype.kind == "f")
    with pytest.raises(TrainingDiverged):
        monkeypatch.setattr(runner, "build", poisoned)
        train(small(steps=6), tmp_path / "api", progress=False, plots=False)


def test_a_torn_metrics_line_is_dropped_on_resume(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--steps", "4", "--log-every", "2"] + SMALL) == 0
    with open(out / "metrics.jsonl", "a") as f:
        f.write('{"step": 6, "d_lo')  # a write cut short by a full disk
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--steps", "6", "--no-progress"]) == 0
    assert "dropped an incomplete last line" in capsys.readouterr().err
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6]


def test_a_bad_metrics_line_is_named_by_file_and_line(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--steps", "4", "--log-every", "2"] + SMALL) == 0
    lines = (out / "metrics.jsonl").read_text().splitlines()
    (out / "metrics.jsonl").write_text("\n".join(["[1, 2]"] + lines[1:]) + "\n")
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--steps", "6", "--no-progress"]) == 2
    assert "metrics.jsonl, line 1: expected an object" in one_error_line(capsys)


def test_a_second_writer_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--steps", "2", "--log-every", "2"] + SMALL) == 0
    before = digest(out)
    with RunDir(out):  # another process writing there
        capsys.readouterr()
        assert main(["train", "--resume", str(out), "--steps", "4", "--no-progress"]) == 2
        assert "another npgan process is writing to this run" in one_error_line(capsys)
        with pytest.raises(RunDirError):
            RunDir(out).lock()
    assert digest(out) == before


def test_the_lock_cleans_up_only_npgans_own_temporary_files_in_its_own_run(tmp_path):
    from npgan.io import TEMP_PREFIX
    out = tmp_path / "run"
    train(small(steps=2), out, progress=False, plots=False)
    ours = [out / f"{TEMP_PREFIX}abc.npz", out / "grids" / f"{TEMP_PREFIX}def.png"]
    others = [out / ".tmp-users-own", out / "sub" / f"{TEMP_PREFIX}another-run.npz", tmp_path / f"{TEMP_PREFIX}x.npz"]
    for path in ours + others:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"partial")
    train(small(steps=4), out, resume=True, progress=False, plots=False)
    assert not any(p.exists() for p in ours) and all(p.exists() for p in others)


def test_a_refused_command_cleans_up_nothing(tmp_path, capsys):
    from npgan.io import TEMP_PREFIX
    out = tmp_path / "run"
    train(small(steps=2), out, progress=False, plots=False)
    leftover = out / f"{TEMP_PREFIX}mid-checkpoint.npz"  # as if another writer were mid-write
    leftover.write_bytes(b"partial")
    assert main(["train", "--out", str(out), "--steps", "4"] + SMALL) == 2  # holds a run: refused
    assert "holds a run already" in one_error_line(capsys) and leftover.exists()


def test_a_run_in_a_parent_folder_never_reaches_into_the_runs_below(tmp_path, capsys):
    """``--out runs`` while ``runs/x`` trains: the parent's lock and clean-up stay in ``runs``."""
    from npgan.io import TEMP_PREFIX
    child = tmp_path / "x"
    train(small(steps=2), child, progress=False, plots=False)
    mid_write = child / f"{TEMP_PREFIX}checkpoint.npz"
    mid_write.write_bytes(b"partial")
    with RunDir(child):  # x's writer holds its lock
        assert main(["train", "--out", str(tmp_path), "--steps", "2", "--log-every", "2"] + SMALL) == 0
    assert mid_write.exists() and (child / "checkpoint.npz").exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_checkpoints_the_current_step_and_the_run_resumes_exactly(tmp_path, monkeypatch, signum):
    """Interrupted at step 3, before any logging step: a checkpoint of step 3 is written, and
    the resumed run ends bit for bit where an uninterrupted one does."""
    cfg = small(steps=10, log_every=5)
    train(cfg, tmp_path / "full", progress=False, plots=False)
    from npgan.gan.adversarial import GANTrainer
    step = GANTrainer.train_step

    def step_then_signal(self, batch):
        stats = step(self, batch)
        if self.step == 3:
            signal.raise_signal(signum)
        return stats

    monkeypatch.setattr(GANTrainer, "train_step", step_then_signal)
    with pytest.raises(RunInterrupted, match=f"interrupted by {signal.Signals(signum).name} at step 3"):
        train(cfg, tmp_path / "cut", progress=False, plots=False)
    monkeypatch.setattr(GANTrainer, "train_step", step)
    assert from_checkpoint(tmp_path / "cut" / "checkpoint.npz")[0].step == 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored
    train(cfg, tmp_path / "cut", resume=True, progress=False, plots=False)
    assert_same_training_state(tmp_path / "full", tmp_path / "cut")


@pytest.mark.parametrize("argv,message", [
    (["--lr", "0.5"], "--lr would change it"),
    (["--data", "grid25", "--hidden", "16"], "--data, --hidden would change it"),
    (["--steps", "4"], "already at step 4; --steps must be larger"),
    ([], "is complete (4 steps); --steps N continues it"),
])
def test_resume_refuses_what_would_change_the_run(tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--steps", "4", "--log-every", "2"] + SMALL) == 0
    before = digest(out)
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--no-progress"] + argv) == 2
    assert message in one_error_line(capsys)
    assert digest(out) == before


def test_resume_applies_steps_and_log_every(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--steps", "4", "--log-every", "2"] + SMALL) == 0
    assert main(["train", "--resume", str(out), "--steps", "9", "--log-every", "3", "--lr", "0.001",
                 "--no-progress"]) == 0  # --lr as it was: allowed
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6, 9]


def _checkpoint_with_config(path, **changes):
    train(small(steps=2), path.parent / "src", progress=False, plots=False)
    state = dict(np.load(path.parent / "src" / "checkpoint.npz"))
    cfg = json.loads(str(state["config"]))
    cfg.update(changes)
    state["config"] = np.asarray(json.dumps(cfg))
    np.savez(path, **state)


@pytest.mark.parametrize("changes,message", [
    (dict(steps="abc"), "option 'steps' must be an integer, got 'abc'"),
    (dict(hidden=128.5), "option 'hidden' must be an integer, got 128.5"),
    (dict(betas="fast"), "option 'betas' must be a list of numbers"),
])
def test_checkpoint_configs_of_the_wrong_type_give_one_line(tmp_path, capsys, changes, message):
    path = tmp_path / "bad.npz"
    _checkpoint_with_config(path, **changes)
    capsys.readouterr()
    assert main(["evaluate", str(path)]) == 2
    assert message in one_error_line(capsys)


def test_sizes_past_the_bounds_give_one_line(tmp_path, capsys):
    train(small(steps=2), tmp_path / "run", progress=False, plots=False)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(["sample", str(tmp_path / "run"), "-n", str(10**12), "-o", str(tmp_path / "s.npy")])
    assert exit_.value.code == 2 and "expected at most 10,000,000 samples" in one_error_line(capsys)
    for flag, value, message in (("--hidden", 10**9, "hidden must be an integer from 1 to 16384"),
                                 ("--batch-size", 10**9, "batch_size must be an integer from 2 to 65536"),
                                 ("--hidden", 16384, "weights per network")):
        assert main(["train", "--out", str(tmp_path / "x"), flag, str(value), "--no-progress"]) == 2
        assert message in one_error_line(capsys)
    assert not (tmp_path / "x").exists()


def test_an_allocation_that_fails_gives_one_line(tmp_path, capsys, monkeypatch):
    train(small(steps=2), tmp_path / "run", progress=False, plots=False)
    from npgan.gan.base import Trainer

    def no_memory(self, n, z=None, labels=None):
        raise MemoryError("Unable to allocate 14.6 TiB for an array")

    monkeypatch.setattr(Trainer, "sample", no_memory)
    capsys.readouterr()
    assert main(["sample", str(tmp_path / "run"), "-o", str(tmp_path / "s.npy")]) == 2
    assert "out of memory (Unable to allocate 14.6 TiB" in one_error_line(capsys)


def test_environment_values_give_one_line(tmp_path):
    import subprocess
    import sys
    for env, message in ((dict(NPGAN_BACKEND="bogus"), "unknown backend 'bogus'"),
                         (dict(NPGAN_NUM_THREADS="abc"), "NPGAN_NUM_THREADS must be a positive integer")):
        r = subprocess.run([sys.executable, "-m", "npgan", "train", "--data", "ring8", "--steps", "2",
                            "--out", str(tmp_path / "x")] + SMALL, capture_output=True, text=True,
                           env={**os.environ, **env}, timeout=120)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and message in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "npgan", "--help"], capture_output=True, text=True,
                       env={**os.environ, "NPGAN_BACKEND": "bogus"}, timeout=120)
    assert r.returncode == 0 and "train" in r.stdout


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(FileNotFoundError):
        main(["evaluate", str(tmp_path / "missing.npz"), "--debug"])


def test_no_non_finite_number_is_ever_written_to_the_log(tmp_path):
    rd = RunDir(tmp_path)
    with pytest.raises(ValueError, match="metric 'd_loss' is nan"):
        rd.append({"step": 1, "d_loss": float("nan")})
    assert not (tmp_path / "metrics.jsonl").exists()
