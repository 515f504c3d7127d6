"""Each promise of a run folder at its edges (docs/guides/run-folders.md: "What a run folder
guarantees", and its paragraph on bad input of any kind), one family of hostile cases per
section, named after the promise.
"""

import hashlib
import json
import shutil
import signal
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import synthetic_fashion
from npgan import backend as B
from npgan import nn
from npgan.cli import main
from npgan.evaluation import plot
from npgan.gan import GANTrainer
from npgan.gan.config import make_config
from npgan.idx import write_idx
from npgan.losses import mmd2
from npgan.optim import Adam

TINY = ["--hidden", "8", "--depth", "1", "--batch-size", "16", "--no-progress"]


def train_cli(out, *extra, steps=4, log_every=2):
    return main(["train", "--out", str(out), "--steps", str(steps), "--log-every", str(log_every)] + TINY
                + list(extra))


def one_error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("npgan: error: "), lines
    return lines[0]


def digest(path) -> str:
    return hashlib.md5(open(path, "rb").read()).hexdigest()


def rewrite_checkpoint(path, **changes):
    """The checkpoint at ``path`` with arrays replaced (None: removed), as other code might."""
    state = dict(np.load(path))
    for k, v in changes.items():
        if v is None:
            state.pop(k, None)
        else:
            state[k] = np.asarray(v)
    np.savez(path, **state)


# ------------------------------------------------------- 1. no non-finite checkpoint on any path
def test_an_interrupt_after_divergence_keeps_the_last_good_checkpoint(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    step = GANTrainer.train_step

    def diverge_then_sigterm(self, batch):
        stats = step(self, batch)
        if self.step == 3:  # between two logging steps: weights turn to NaN, then a SIGTERM arrives
            self.generator.parameters()[0].data[...] = float("nan")
            signal.raise_signal(signal.SIGTERM)
        return stats

    monkeypatch.setattr(GANTrainer, "train_step", diverge_then_sigterm)
    assert train_cli(out, steps=6) == 3
    line = one_error_line(capsys)
    assert "training diverged: at step 3" in line and "last good checkpoint is kept" in line
    assert "checkpoint written" not in line
    state = np.load(out / "checkpoint.npz")
    assert int(state["step"]) == 2 and all(np.isfinite(state[k]).all() for k in state.files if state[k].dtype.kind == "f")


@pytest.mark.parametrize("command", [["sample", "-o", "s.npy"], ["evaluate"], ["train", "--steps", "8", "--resume"],
                                     ["plot"], ["interpolate", "-o", "w.png"]])
def test_no_command_reads_a_checkpoint_with_non_finite_weights(tmp_path, capsys, command):
    out = tmp_path / "run"
    assert train_cli(out) == 0
    key = next(k for k in np.load(out / "checkpoint.npz").files if k.startswith("G."))
    rewrite_checkpoint(out / "checkpoint.npz", **{key: np.full_like(np.load(out / "checkpoint.npz")[key], np.nan)})
    capsys.readouterr()
    argv = [command[0]] + [str(out)] + [str(tmp_path / a) if a.endswith((".npy", ".png")) else a for a in command[1:]]
    if command[0] == "train":
        argv = ["train", "--steps", "8", "--resume", str(out), "--no-progress"]
    assert main(argv) == 2
    assert f"{key} has non-finite values" in one_error_line(capsys)
    assert not (tmp_path / "s.npy").exists() and not (tmp_path / "w.png").exists()


def test_evaluate_prints_strict_json_or_one_error_line(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert train_cli(out) == 0
    from npgan.gan import evaluators
    monkeypatch.setattr(evaluators, "evaluate", lambda *a, **k: {"mmd2": float("nan"), "modes": 8})
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 2
    assert "metric 'mmd2' is nan" in one_error_line(capsys)
    assert capsys.readouterr().out == ""


# ---------------------------------------------------- 3. outputs are never written over anything
def test_train_classifier_refuses_to_replace_what_is_not_a_classifier_before_training(tmp_path, capsys):
    out = tmp_path / "run"
    assert train_cli(out) == 0
    before = digest(out / "checkpoint.npz")
    capsys.readouterr()
    # no data folder at all: a refusal about the data would mean the output was checked too late
    missing = str(tmp_path / "no-data")
    assert main(["train-classifier", "--out", str(out / "checkpoint.npz"), "--data-dir", missing]) == 2
    assert "exists and is not a classifier file" in one_error_line(capsys)
    assert digest(out / "checkpoint.npz") == before
    assert main(["train-classifier", "--out", str(out), "--data-dir", missing]) == 2
    assert "is a folder; give a file name" in one_error_line(capsys)


def test_an_unwritable_classifier_home_is_refused_before_training(tmp_path, capsys, monkeypatch):
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("NPGAN_HOME", str(tmp_path / "file" / "cache"))
    assert main(["train-classifier", "--data-dir", str(tmp_path / "no-data")]) == 2
    assert "cannot create the folder for" in one_error_line(capsys)


def test_sample_to_a_folder_is_refused_before_drawing(tmp_path, capsys):
    out = tmp_path / "run"
    assert train_cli(out) == 0
    (tmp_path / "dir.npy").mkdir()
    capsys.readouterr()
    assert main(["sample", str(out), "-o", str(tmp_path / "dir.npy")]) == 2
    assert "is a folder" in one_error_line(capsys)


# ------------------------------------------------------- 4. one run per folder: its identity
def test_a_checkpoint_of_another_run_copied_into_a_folder_is_not_resumed(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert train_cli(a, steps=4) == 0
    assert main(["train", "--out", str(b), "--data", "grid25", "--steps", "2", "--log-every", "2"] + TINY) == 0
    shutil.copy(b / "checkpoint.npz", a / "checkpoint.npz")
    log = (a / "metrics.jsonl").read_text()
    capsys.readouterr()
    assert main(["train", "--resume", str(a), "--steps", "8", "--no-progress"]) == 2
    assert "two runs' files are mixed" in one_error_line(capsys)
    assert (a / "metrics.jsonl").read_text() == log  # nothing deleted


def test_an_image_run_keeps_to_its_own_data_wherever_it_is_continued_from(tmp_path, capsys, monkeypatch):
    for name in ("first", "other", "data"):
        (tmp_path / name).mkdir()
    first = synthetic_fashion(tmp_path / "first", n_train=60, n_test=20, seed=0)
    other = synthetic_fashion(tmp_path / "other", n_train=60, n_test=20, seed=1)
    monkeypatch.setenv("NPGAN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NPGAN_FASHION_MNIST", str(first))
    monkeypatch.chdir(tmp_path)
    image = ["--data", "fashion-mnist", "--width", "4", "--latent-dim", "8", "--batch-size", "8", "--no-progress"]
    assert main(["train", "--out", "run", "--steps", "2", "--log-every", "2"] + image) == 0
    assert json.loads(str(np.load("run/checkpoint.npz")["config"]))["data_dir"] == str(first)
    monkeypatch.setenv("NPGAN_FASHION_MNIST", str(other))  # the environment moved on: the run did not
    assert main(["train", "--resume", "run", "--steps", "4", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", "run", "--steps", "6", "--data-dir", str(other), "--no-progress"]) == 2
    assert "differ from the data this run was trained on" in one_error_line(capsys)
    shutil.copytree(first, tmp_path / "moved")  # the same files elsewhere: accepted
    assert main(["train", "--resume", "run", "--steps", "6", "--data-dir", "moved", "--no-progress"]) == 0


def test_a_run_trained_with_a_relative_data_dir_is_used_from_any_folder(tmp_path, capsys, monkeypatch):
    (tmp_path / "data").mkdir()
    synthetic_fashion(tmp_path / "data", n_train=60, n_test=20)
    monkeypatch.setenv("NPGAN_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--out", "run", "--data", "fashion-mnist", "--data-dir", "data", "--width", "4",
                 "--latent-dim", "8", "--batch-size", "8", "--steps", "2", "--log-every", "2", "--no-progress"]) == 0
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert main(["sample", "../run", "-n", "4", "-o", "s.npy"]) == 0
    assert main(["train", "--resume", "../run", "--steps", "4", "--no-progress"]) == 0


@pytest.mark.parametrize("changes,message", [
    (dict(step=-5), "step -5 is outside the run's 0..4 steps"),
    (dict(step=10**6), "outside the run's 0..4 steps"),
    (dict(step=2.5), "its step must be one integer"),
    (dict(config="[1, 2]"), "its 'config' must be a JSON object, got list"),
    (dict(config="{not json"), "its 'config' is not valid JSON"),
    (dict(config=json.dumps({"data": "ring8", "lr": -1})), "its config is not valid: lr must be"),
    (dict(run='{"id": 3}'), "its run identity must name an id"),
    (dict(rng=None), "missing key 'rng'"),
])
def test_a_mutated_checkpoint_gives_one_line_everywhere(tmp_path, capsys, changes, message):
    out = tmp_path / "run"
    assert train_cli(out) == 0
    rewrite_checkpoint(out / "checkpoint.npz", **changes)
    before = digest(out / "checkpoint.npz")
    for argv in (["sample", str(out), "-o", str(tmp_path / "s.npy")], ["evaluate", str(out)],
                 ["train", "--resume", str(out), "--steps", "8", "--no-progress"]):
        capsys.readouterr()
        assert main(argv) == 2, argv
        assert message in one_error_line(capsys), argv
    assert digest(out / "checkpoint.npz") == before


def test_an_edited_config_inside_a_checkpoint_is_noticed(tmp_path, capsys):
    out = tmp_path / "run"
    assert train_cli(out) == 0
    cfg = json.loads(str(np.load(out / "checkpoint.npz")["config"]))
    rewrite_checkpoint(out / "checkpoint.npz", config=json.dumps({**cfg, "label_smoothing": 0.2}))
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 2
    assert "its config was changed after the run wrote it" in one_error_line(capsys)


# -------------------------------------------------------------- 5. the end of a run
def test_a_signal_during_the_final_plots_waits_for_them(tmp_path, monkeypatch):
    draw = plot.plot_losses

    def plot_then_signal(*args, **kwargs):
        signal.raise_signal(signal.SIGTERM)
        return draw(*args, **kwargs)

    monkeypatch.setattr(plot, "plot_losses", plot_then_signal)
    assert train_cli(tmp_path / "run") == 0
    assert (tmp_path / "run" / "losses.png").exists() and (tmp_path / "run" / "samples.png").exists()


def test_plots_lost_to_a_second_ctrl_c_are_redrawn_by_npgan_plot(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(plot, "plot_losses", interrupted)
    assert train_cli(out) == 130
    assert f"npgan plot {out} draws them" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(["train", "--resume", str(out), "--no-progress"]) == 2
    assert f"its plots are missing: npgan plot {out} draws them" in one_error_line(capsys)
    assert main(["plot", str(out)]) == 0
    for name in ("samples.png", "losses.png", "latent_map.png"):
        assert (out / name).stat().st_size > 0


@pytest.mark.parametrize("broken", ["MPLBACKEND", "no matplotlib"])
def test_a_run_that_could_not_draw_its_plots_is_refused_before_training(tmp_path, capsys, monkeypatch, broken):
    if broken == "MPLBACKEND":
        monkeypatch.setenv("MPLBACKEND", "no-such-backend")
        monkeypatch.delitem(sys.modules, "matplotlib", raising=False)
        monkeypatch.delitem(sys.modules, "matplotlib.pyplot", raising=False)
        expected = "MPLBACKEND='no-such-backend' is not a matplotlib backend"
    else:
        monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
        expected = "plots need matplotlib"
    assert train_cli(tmp_path / "run") == 2
    assert expected in one_error_line(capsys)
    assert not (tmp_path / "run").exists()


def test_npgan_plot_waits_its_turn_behind_the_runs_writer(tmp_path, capsys):
    from npgan.gan.rundir import RunDir
    out = tmp_path / "run"
    assert train_cli(out) == 0
    (out / "samples.png").unlink()
    capsys.readouterr()
    with RunDir(out):  # the run's writer at work
        assert main(["plot", str(out)]) == 2
    assert "another npgan process is writing to this run" in one_error_line(capsys)
    assert not (out / "samples.png").exists()


# ------------------------------------------------------------------- 6. no dead-end folders
def test_a_run_that_failed_before_its_first_checkpoint_can_simply_be_rerun(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    step = GANTrainer.train_step

    def nan_at_once(self, batch):
        stats = step(self, batch)
        self.generator.parameters()[0].data[...] = float("nan")
        return stats

    monkeypatch.setattr(GANTrainer, "train_step", nan_at_once)
    assert train_cli(out) == 3
    assert not (out / "checkpoint.npz").exists() and not (out / "metrics.jsonl").exists()
    monkeypatch.undo()
    capsys.readouterr()
    assert train_cli(out) == 0  # the same command, not "--resume" and not "--overwrite"


def test_a_stale_log_without_a_checkpoint_is_replaced_with_a_note(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text('{"step": 2, "run": "gone"}\n')
    assert train_cli(out) == 0
    assert "belongs to no checkpoint" in capsys.readouterr().err
    assert [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()] == [2, 4]


def test_resume_in_a_folder_without_a_run_says_how_to_start_one(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["train", "--resume", str(tmp_path / "empty"), "--no-progress"]) == 2
    assert "holds no run (no checkpoint.npz); start one with npgan train --out" in one_error_line(capsys)
    assert train_cli(tmp_path / "run") == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "run" / "checkpoint.npz"), "--steps", "8", "--no-progress"]) == 2
    assert f"is a file; give the run's folder ({tmp_path / 'run'})" in one_error_line(capsys)


def test_a_log_line_whose_step_is_not_an_integer_is_named(tmp_path, capsys):
    out = tmp_path / "run"
    assert train_cli(out) == 0
    lines = (out / "metrics.jsonl").read_text().splitlines()
    (out / "metrics.jsonl").write_text(lines[0].replace('"step": 2', '"step": true') + "\n" + lines[1] + "\n")
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--steps", "6", "--no-progress"]) == 2
    assert "metrics.jsonl, line 1: expected an object with an integer 'step'" in one_error_line(capsys)


# ------------------------------------------------------------ 7. values that cannot work
@pytest.mark.parametrize("extra,message", [
    (["--lr", "1e-320"], "lr must be a positive number, at least 1.2e-38"),
    (["--trainer", "mmd", "--bandwidths", "1e-300"], "bandwidths must be one or more positive numbers from 0.0001"),
    (["--trainer", "mmd", "--bandwidths", "1", "1e200"], "bandwidths must be one or more positive numbers"),
    (["--r1", "1e300"], "r1 must be from 0 to 10000"),
    (["--gp", "1e5"], "gp must be from 0 to 10000"),
    (["--seed", "-1"], "seed must be an integer from 0"),
    (["--width", "8"], "option 'width' is for --model dcgan"),
    (["--d-norm", "layer"], "option 'd_norm' is for --model dcgan"),
    (["--classifier", "c.npz"], "option 'classifier' is for image data sets"),
    (["--data-dir", "."], "option 'data_dir' is for image data sets"),
])
def test_values_that_cannot_work_are_refused_before_anything_is_written(tmp_path, capsys, extra, message):
    assert train_cli(tmp_path / "run", *extra) == 2
    assert message in one_error_line(capsys)
    assert not (tmp_path / "run").exists()


def test_every_option_s_default_passes_its_own_check():
    from npgan.gan.config import OPTIONS
    for option in OPTIONS:
        if option.default is not None:
            assert option.problem(option.default) is None, option.name


def test_options_of_the_other_network_family_are_refused_on_images():
    with pytest.raises(ValueError, match="option 'hidden' is for --model mlp"):
        make_config(data="fashion-mnist", hidden=64)
    with pytest.raises(ValueError, match="option 'g_batchnorm' is for the low-dimensional sets"):
        make_config(data="fashion-mnist", model="mlp", g_batchnorm=True)
    assert make_config(data="fashion-mnist", model="mlp", hidden=64)["hidden"] == 64


def test_evaluate_refuses_a_sample_too_small_to_measure(tmp_path, capsys):
    assert train_cli(tmp_path / "run") == 0
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run"), "-n", "2"]) == 2
    assert "evaluate needs at least 100 samples" in one_error_line(capsys)


@pytest.mark.parametrize("images,message", [
    (np.zeros((4, 28, 28), dtype=np.float32), "expected unsigned bytes shaped (N, 28, 28)"),
    (np.zeros((4, 28, 28), dtype=np.int16), "got int16 (4, 28, 28)"),
    (np.zeros((4, 14, 14), dtype=np.uint8), "got uint8 (4, 14, 14)"),
])
def test_image_files_of_another_type_or_shape_are_refused(tmp_path, images, message):
    from npgan.data import fashion_mnist
    write_idx(tmp_path / "train-images-idx3-ubyte", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(4, dtype=np.uint8))
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fashion_mnist("train", str(tmp_path))


def test_labels_outside_the_classes_are_refused(tmp_path):
    from npgan.data import fashion_mnist
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([3, 12], dtype=np.uint8))
    with pytest.raises(ValueError, match="label 12 is not one of Fashion-MNIST's classes 0..9"):
        fashion_mnist("train", str(tmp_path))


def test_the_library_refuses_the_same_values_as_the_command_line(backend_name):
    x = B.normal((4, 2))
    for bad in ((1e-300,), (1.0, 1e200), (float("nan"),)):
        with pytest.raises(ValueError, match="bandwidths must be one or more positive numbers from"):
            mmd2(x, x, bad)
    with pytest.raises(ValueError, match="LeakyReLU: negative_slope must be a finite number, got nan"):
        nn.LeakyReLU(float("nan"))
    with pytest.raises(ValueError, match="Dropout: p must be in"):
        nn.Dropout(float("nan"))
    opt = Adam(nn.Dense(2, 2).parameters(), lr=np.float32(1e-3))  # a NumPy number is a number
    assert opt.lr == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="lr must be a positive number, got True"):
        Adam(nn.Dense(2, 2).parameters(), lr=True)


def test_a_log_line_averaged_over_part_of_an_interval_says_so(tmp_path, monkeypatch):
    from npgan.gan.runner import RunInterrupted, train
    cfg = make_config(data="ring8", steps=8, log_every=4, hidden=8, depth=1, batch_size=16, eval_samples=100,
                      eval_mmd=50)
    step = GANTrainer.train_step

    def signal_at_2(self, batch):
        stats = step(self, batch)
        if self.step == 2:
            signal.raise_signal(signal.SIGTERM)
        return stats

    monkeypatch.setattr(GANTrainer, "train_step", signal_at_2)
    with pytest.raises(RunInterrupted):
        train(cfg, tmp_path / "run", progress=False, plots=False)  # stopped mid-interval
    monkeypatch.undo()
    train(cfg, tmp_path / "run", resume=True, progress=False, plots=False)
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r.get("averaged_over")) for r in lines] == [(4, 2), (8, None)]


# ------------------------------------------------------------------------ fuzz: mutated files
ARRAY_CHANGES = st.sampled_from(["nan", "inf", "drop", "shape", "int"])


@settings(max_examples=25, deadline=None)
@given(key_index=st.integers(0, 40), change=ARRAY_CHANGES,
       config_edit=st.one_of(st.none(), st.tuples(st.sampled_from(["steps", "lr", "data", "hidden", "seed", "betas",
                                                                   "pack", "nonsense"]),
                                                  st.sampled_from([None, -1, 0, 1e300, "x", [1], True, 2.5]))))
def test_fuzzed_checkpoints_end_in_one_line_or_a_result(tmp_path_factory, capsys, key_index, change, config_edit):
    folder = tmp_path_factory.mktemp("ckpt")
    source = _fuzz_source(tmp_path_factory)
    shutil.copytree(source, folder / "run")
    path = folder / "run" / "checkpoint.npz"
    state = dict(np.load(path))
    key = sorted(state)[key_index % len(state)]
    value = state[key]
    state[key] = {"nan": lambda v: np.full(v.shape, np.nan), "inf": lambda v: np.full(v.shape, np.inf),
                  "drop": lambda v: None, "shape": lambda v: np.zeros((3, 5)),
                  "int": lambda v: np.zeros(v.shape, dtype=np.int64)}[change](value)
    if state[key] is None:
        del state[key]
    if config_edit is not None and key != "config":
        cfg = json.loads(str(state["config"]))
        cfg[config_edit[0]] = config_edit[1]
        state["config"] = np.asarray(json.dumps(cfg))
    np.savez(path, **state)
    before = digest(path)
    for argv in (["sample", str(folder / "run"), "-n", "4", "-o", str(folder / "s.npy")],
                 ["evaluate", str(folder / "run")]):
        capsys.readouterr()
        code = main(argv)
        err = capsys.readouterr().err
        assert "Traceback" not in err and code in (0, 2), (argv, key, change, config_edit, err)
        if code == 2:
            assert len(err.strip().splitlines()) == 1 and err.startswith("npgan: error: "), err
    assert digest(path) == before


_SOURCE = {}


def _fuzz_source(factory):
    if "run" not in _SOURCE:
        out = factory.mktemp("source") / "run"
        assert train_cli(out) == 0
        _SOURCE["run"] = out
    return _SOURCE["run"]


@settings(max_examples=40, deadline=None)
@given(header=st.binary(min_size=0, max_size=24), keep_data=st.booleans())
def test_fuzzed_idx_headers_end_in_one_clear_error_or_a_data_set(tmp_path_factory, header, keep_data):
    from npgan.data import fashion_mnist
    folder = tmp_path_factory.mktemp("idx")
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros(2, dtype=np.uint8))
    write_idx(folder / "train-images-idx3-ubyte", images)
    raw = open(folder / "train-images-idx3-ubyte", "rb").read()
    body = raw[16:] if keep_data else b""
    with open(folder / "train-images-idx3-ubyte", "wb") as f:
        f.write(header + body)
    try:
        ds = fashion_mnist("train", str(folder))
    except (ValueError, FileNotFoundError) as exc:
        assert str(folder) in str(exc) and "\n" not in str(exc)
    else:
        assert ds.images.dtype == np.uint8 and ds.images.shape[1:] == (1, 28, 28)

