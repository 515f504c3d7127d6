import json
import os
import subprocess
import sys

import numpy as np
import pytest

from npgan import backend as B
from npgan import nn
from npgan.cli import main
from npgan.gan.config import describe_default, make_config
from npgan.gan.runner import from_checkpoint, train


def small(**kw):
    base = dict(data="ring8", steps=20, log_every=5, hidden=16, depth=2, batch_size=32,
                eval_samples=200, eval_mmd=100)
    base.update(kw)
    return make_config(**base)


@pytest.mark.parametrize("trainer", ["gan", "mmd"])
def test_resume_equals_uninterrupted(tmp_path, trainer, backend_name):
    # with BatchNorm in G: its running statistics are part of the saved state too
    cfg = small(trainer=trainer, pack=2 if trainer == "gan" else 1, g_batchnorm=True)
    train(cfg, tmp_path / "full", progress=False, plots=False)
    train(cfg, tmp_path / "cut", progress=False, plots=False, until=10)
    assert from_checkpoint(tmp_path / "cut" / "checkpoint.npz")[0].step == 10
    train(cfg, tmp_path / "cut", resume=True, progress=False, plots=False)
    assert_same_training_state(tmp_path / "full", tmp_path / "cut")
    full_log = (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()
    cut_log = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    assert len(full_log) == len(cut_log) == 4
    assert [json.loads(x)["step"] for x in cut_log] == [5, 10, 15, 20]


@pytest.mark.skipif(not B.cupy_available(), reason="needs CuPy and a CUDA device")
def test_a_run_moves_between_backends(tmp_path):
    """A run checkpointed on the GPU resumes on the CPU, and back: the same modes and the same
    step count, whichever device wrote the checkpoint."""
    cfg = small(steps=30, log_every=10)
    B.set_backend("cupy")
    try:
        train(cfg, tmp_path / "run", progress=False, plots=False, until=10)
    finally:
        B.set_backend("numpy")
    train(cfg, tmp_path / "run", resume=True, progress=False, plots=False, until=20)
    assert from_checkpoint(tmp_path / "run" / "checkpoint.npz")[0].step == 20
    B.set_backend("cupy")
    try:
        final = train(cfg, tmp_path / "run", resume=True, progress=False, plots=False)
        trainer = from_checkpoint(tmp_path / "run" / "checkpoint.npz")[0]
        assert B.array_backend(trainer.generator.parameters()[0].data) == "cupy"
    finally:
        B.set_backend("numpy")
    assert final["step"] == 30 and trainer.step == 30


def test_cli_train_sample_evaluate(tmp_path, capsys, backend_name):
    out = tmp_path / "run"
    assert main(["train", "--data", "grid25", "--out", str(out), "--steps", "10", "--log-every", "5",
                 "--hidden", "16", "--depth", "1", "--batch-size", "32", "--g-batchnorm",
                 "--no-progress"]) == 0
    assert any(isinstance(layer, nn.BatchNorm) for layer in from_checkpoint(out / "checkpoint.npz")[0].generator.layers)
    for f in ("checkpoint.npz", "metrics.jsonl", "samples.png", "losses.png", "latent_map.png"):
        assert (out / f).stat().st_size > 0, f
    printed = capsys.readouterr().out.splitlines()
    assert "latent_map.png" in printed[1]  # the "wrote ..." line names it
    final = json.loads(printed[0])
    assert final["step"] == 10 and final["n_modes"] == 25
    assert main(["sample", str(out), "-n", "50", "-o", str(tmp_path / "s.npy")]) == 0  # a run directory
    assert np.load(tmp_path / "s.npy").shape == (50, 2)
    capsys.readouterr()
    assert main(["evaluate", str(out / "checkpoint.npz"), "-n", "300"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["step"] == 10 and set(result) >= {"modes", "high_quality", "reverse_kl", "mmd2"}
    assert (result["samples"], result["seed"]) == (300, 0)
    assert main(["evaluate", str(out)]) == 0  # defaults: the run's own sample size
    assert json.loads(capsys.readouterr().out)["samples"] == 2500


def test_cli_without_a_command_lists_the_commands(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert all(c in out for c in ("train", "sample", "evaluate", "train-classifier"))


def test_cli_bandwidths_and_betas_reach_the_mmd_trainer_and_its_checkpoint(tmp_path, backend_name):
    out = tmp_path / "run"
    assert main(["train", "--trainer", "mmd", "--bandwidths", "0.1", "0.3", "--betas", "0.9", "0.99",
                 "--out", str(out), "--steps", "4", "--log-every", "2", "--hidden", "8", "--depth", "1",
                 "--batch-size", "16", "--no-progress"]) == 0
    trainer, _, cfg = from_checkpoint(out / "checkpoint.npz")
    assert trainer.bandwidths == (0.1, 0.3) and cfg["bandwidths"] == [0.1, 0.3]
    assert trainer.g_opt.betas == (0.9, 0.99) and cfg["betas"] == [0.9, 0.99]


def test_cli_resume_extends_a_run(tmp_path, capsys, backend_name):
    out = tmp_path / "run"
    args = ["--hidden", "8", "--depth", "1", "--batch-size", "16", "--log-every", "5", "--no-progress"]
    assert main(["train", "--out", str(out), "--steps", "5"] + args) == 0
    assert main(["train", "--resume", str(out), "--steps", "10", "--no-progress"]) == 0
    assert from_checkpoint(out / "checkpoint.npz")[0].step == 10


@pytest.mark.parametrize("argv,message", [
    (["train", "--data", "mnist", "--out", "x"], "invalid choice: 'mnist'"),
    (["train", "--steps", "-5", "--out", "x"], "steps must be a positive integer, got -5"),
    (["train", "--data", "ring8"], "train needs --out DIR"),
    (["evaluate", "missing.npz"], "no such checkpoint file: missing.npz"),
    (["evaluate", "x.npz", "--backend", "cupy"], "backend 'cupy' is unavailable"),
    (["train", "--data", "ring8", "--model", "dcgan", "--out", "x"], "model 'dcgan' is for images"),
    (["train", "--data", "fashion-mnist", "--trainer", "mmd", "--out", "x"], "the mmd trainer works on"),
    (["train", "--data", "fashion-mnist", "--data-dir", "empty", "--out", "x"],
     "apt-get install dataset-fashion-mnist"),
    (["train-classifier", "--data-dir", "empty"], "apt-get install dataset-fashion-mnist"),
    (["train", "--trainer", "mmd", "--bandwidths", "0.1", "-1", "--out", "x"],
     "bandwidths must be one or more positive numbers"),
    (["train", "--betas", "0.5", "1.0", "--out", "x"], "betas must be two numbers in [0, 1)"),
    (["train", "--trainer", "mmd", "--pack", "4", "--out", "x"], "option 'pack' is not used by the mmd trainer"),
    (["train", "--loss", "minimax", "--trainer", "mmd", "--out", "x"], "option 'loss' is not used by the mmd"),
])
def test_cli_bad_input_gives_one_line_error(tmp_path, capsys, argv, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    if "cupy" in argv and B.cupy_available():
        pytest.skip("cupy is usable here: no error to show")
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own refusals exit from inside the parser
        code = exc.code
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("npgan: error: ")
    assert message in lines[0]
    assert not (tmp_path / "x").exists()  # refused before anything was written
    B.set_backend("numpy")


def test_cli_unreadable_checkpoint(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_text("garbage")
    assert main(["evaluate", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not an npgan checkpoint (not an .npz archive)" in err[0]
    np.save(tmp_path / "samples.npy", np.zeros((3, 2)))  # what npgan sample writes
    assert main(["evaluate", str(tmp_path / "samples.npy")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not an npgan checkpoint" in err[0] and "pickle" not in err[0]
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    assert main(["sample", str(tmp_path / "other.npz"), "-o", str(tmp_path / "s.npy")]) == 2
    assert "not a training checkpoint" in capsys.readouterr().err
    assert main(["sample", str(tmp_path / "other.npz"), "-o", str(tmp_path / "s.txt")]) == 2
    assert "expected a .npy file" in capsys.readouterr().err and not (tmp_path / "s.txt").exists()


def test_python_dash_m_entry_point(tmp_path):
    r = subprocess.run([sys.executable, "-m", "npgan", "train", "--data", "nope", "--out", str(tmp_path)],
                       capture_output=True, text=True, env={**os.environ, "NPGAN_BACKEND": "numpy"})
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "invalid choice: 'nope'" in r.stderr


# ----------------------------------------------------------------------------- image runs
from helpers import assert_same_training_state, synthetic_fashion  # noqa: E402
from npgan.evaluation import classifier  # noqa: E402


@pytest.fixture(scope="module")
def fashion(tmp_path_factory):
    """A synthetic Fashion-MNIST folder and a classifier trained on it (seconds, not minutes)."""
    folder = synthetic_fashion(tmp_path_factory.mktemp("fashion"), n_train=300, n_test=100)
    from npgan.data import fashion_mnist
    clf = classifier.train(fashion_mnist("train", str(folder)), fashion_mnist("test", str(folder)),
                           epochs=1, batch_size=32, progress=False, log=lambda m: None)
    path = clf.save(folder / "clf.npz")
    return str(folder), str(path)


def image_cfg(fashion, **kw):
    folder, clf = fashion
    base = dict(data="fashion-mnist", data_dir=folder, classifier=clf, steps=4, log_every=2,
                latent_dim=8, batch_size=8, eval_samples=100)
    base.update(kw)
    if base.get("model", "dcgan") == "dcgan":
        base.setdefault("width", 4)
    return make_config(**base)


def test_image_run_writes_a_grid_per_logging_step_and_the_fd(tmp_path, fashion, backend_name):
    cfg = image_cfg(fashion)
    assert cfg["model"] == "dcgan" and cfg["lr"] == 2e-4 and cfg["betas"] == [0.5, 0.999]
    final = train(cfg, tmp_path, progress=False)
    for f in ("grids/step_000002.png", "grids/step_000004.png", "samples.png", "losses.png", "checkpoint.npz"):
        assert (tmp_path / f).stat().st_size > 0, f
    recs = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [2, 4]
    for r in recs:
        assert r["fd"] > r["fd_real"] > 0 and 0 < r["class_coverage"] <= 1
        assert len(r["class_histogram"]) == 10
    assert final["step"] == 4 and final["fd"] == recs[-1]["fd"]
    from PIL import Image
    with Image.open(tmp_path / "grids" / "training.gif") as gif:  # the grids, one frame each
        assert gif.n_frames == 2


@pytest.mark.parametrize("model", ["dcgan", "mlp"])
def test_image_resume_equals_uninterrupted(tmp_path, fashion, model, backend_name):
    cfg = image_cfg(fashion, model=model, pack=2, **(dict(hidden=16, depth=1) if model == "mlp" else {}))
    train(cfg, tmp_path / "full", progress=False, plots=False)
    train(cfg, tmp_path / "cut", progress=False, plots=False, until=2)
    train(cfg, tmp_path / "cut", resume=True, progress=False, plots=False)
    assert_same_training_state(tmp_path / "full", tmp_path / "cut")
    grids = sorted(p.name for p in (tmp_path / "cut" / "grids").iterdir())
    assert grids == ["step_000002.png", "step_000004.png"]


def test_image_run_without_a_classifier_says_so(tmp_path, fashion, backend_name, monkeypatch):
    monkeypatch.setenv("NPGAN_HOME", str(tmp_path / "home"))  # no classifier in the default place
    notes = []
    final = train(image_cfg(fashion, classifier=None, steps=2), tmp_path / "run",
                  progress=False, plots=False, log=notes.append)
    assert "fd" not in final and len(notes) == 1 and "npgan train-classifier" in notes[0]
    with pytest.raises(FileNotFoundError, match="--classifier .*none.npz: no such file"):  # named, not skipped
        train(image_cfg(fashion, classifier=str(tmp_path / "none.npz"), steps=2), tmp_path / "run2",
              progress=False, plots=False)
    assert not (tmp_path / "run2").exists()


def test_cli_image_sample_png_and_evaluate(tmp_path, fashion, capsys, backend_name):
    folder, clf = fashion
    out = tmp_path / "run"
    assert main(["train", "--data", "fashion-mnist", "--data-dir", folder, "--classifier", clf,
                 "--out", str(out), "--steps", "2", "--log-every", "2", "--width", "4",
                 "--batch-size", "8", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["sample", str(out / "checkpoint.npz"), "-n", "16", "-o", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").stat().st_size > 0
    capsys.readouterr()
    assert main(["evaluate", str(out / "checkpoint.npz"), "-n", "120"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["step"] == 2 and result["fd"] > result["fd_real"] > 0 and "class_coverage" in result
    assert main(["evaluate", str(out)]) == 0  # the run's sample size: the training log's floor, exactly
    logged = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert json.loads(capsys.readouterr().out)["fd_real"] == logged["fd_real"]


def test_recipes_per_data_set_and_trainer():
    assert make_config(data="ring8")["batch_size"] == 256
    grid = make_config(data="grid25")
    assert (grid["hidden"], grid["batch_size"]) == (256, 1024)
    assert make_config(data="grid25", trainer="mmd")["batch_size"] == 512   # its part of the recipe
    assert make_config(data="grid25", trainer="mmd", batch_size=64)["batch_size"] == 64  # flags win
    assert make_config(data="grid25", batch_size=None)["batch_size"] == 1024  # None: not given
    assert make_config(data="ring8", trainer="mmd")["lr"] == 1e-2      # the trainer's default
    assert make_config(data="grid25", trainer="mmd")["noise"] == "uniform"
    assert make_config(data="grid25", trainer="gan")["noise"] == "uniform"  # grid25's recipe
    assert make_config(data="ring8", trainer="gan")["noise"] == "normal"
    assert make_config(data="ring8", trainer="mmd")["steps"] == 30000  # ring8's part for mmd
    assert make_config(data="ring8", trainer="gan")["steps"] == 12000
    assert make_config(data="ring8")["d_steps"] == 2                   # ring8's part for gan
    assert make_config(data="grid25")["d_steps"] == 1
    assert make_config(data="ring8", trainer="mmd", lr=1e-4)["lr"] == 1e-4
    assert make_config(data="fashion-mnist")["lr"] == 2e-4             # the data set's recipe


def test_a_loss_brings_its_own_optimiser_settings_above_the_recipes_and_below_the_flags():
    wgan = make_config(data="ring8", loss="wasserstein")
    assert (wgan["d_steps"], wgan["betas"]) == (5, [0.5, 0.9])         # over ring8's d_steps 2
    assert make_config(data="ring8", loss="wasserstein", d_steps=3, betas=[0.0, 0.9])["d_steps"] == 3
    assert make_config(data="ring8", loss="wasserstein", betas=[0.0, 0.99])["betas"] == [0.0, 0.99]
    assert make_config(data="ring8", loss="hinge")["betas"] == [0.5, 0.999]
    assert "wasserstein loss: 0.5 0.9" in describe_default("betas")


def test_penalties_reach_the_trainer_and_its_checkpoint(tmp_path, backend_name):
    out = tmp_path / "wgan"
    assert main(["train", "--data", "ring8", "--out", str(out), "--steps", "4", "--log-every", "2",
                 "--hidden", "8", "--depth", "1", "--batch-size", "16", "--loss", "wasserstein",
                 "--gp", "10", "--r1", "1", "--d-steps", "2", "--no-progress"]) == 0
    trainer, _, cfg = from_checkpoint(out / "checkpoint.npz")
    assert (cfg["loss"], cfg["gp"], cfg["r1"], cfg["d_steps"]) == ("wasserstein", 10.0, 1.0, 2)
    assert (trainer.loss.name, trainer.gp, trainer.r1) == ("wasserstein", 10.0, 1.0)
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert all("gp" in r and "r1" in r for r in records)
    assert main(["train", "--resume", str(out), "--steps", "6", "--no-progress"]) == 0
    assert from_checkpoint(out / "checkpoint.npz")[0].step == 6


def test_the_dcgan_critic_under_a_penalty_uses_layernorm():
    from types import SimpleNamespace

    from npgan.gan.config import DEFAULTS
    from npgan.gan.models import build_networks
    images = SimpleNamespace(shape=(1, 28, 28))
    for options, norm in ((dict(), nn.BatchNorm), (dict(gp=10.0), nn.LayerNorm), (dict(r1=1.0), nn.LayerNorm),
                          (dict(d_norm="none"), None)):
        cfg = {**DEFAULTS, "data": "fashion-mnist", "model": "dcgan",
               "latent_dim": 8, "width": 2, **options}
        _, D = build_networks(cfg, images)
        kinds = {type(layer) for layer in D.layers}
        assert (norm in kinds) if norm else not ({nn.BatchNorm, nn.LayerNorm} & kinds)
