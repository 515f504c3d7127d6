"""Misuse of the public API and the command line: each case refused at once, in one clear line.

The last test is a fuzz suite (hypothesis): malformed command lines must end in a clear one-line
error or a correct run, never in a traceback, and a refused command changes nothing on disk.
"""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from npgan import backend as B
from npgan import nn, runtime
from npgan.cli import main
from npgan.losses import mmd2, sigmoid_cross_entropy
from npgan.optim import SGD, Adam


@pytest.mark.parametrize("make,message", [
    (lambda p: Adam(p, lr=float("nan")), "lr must be a positive number"),
    (lambda p: Adam(p, eps=-1.0), "eps must be positive"),
    (lambda p: SGD(p, lr=0.1, momentum=-1.0), "momentum and weight_decay must be >= 0"),
    (lambda p: SGD(p, lr=float("inf")), "lr must be a positive number"),
])
def test_optimisers_refuse_bad_settings(backend_name, make, message):
    with pytest.raises(ValueError, match=message):
        make(nn.Dense(2, 2).parameters())


def test_layers_refuse_fractional_sizes_and_foreign_gradients(backend_name):
    with pytest.raises(ValueError, match="in_channels must be an integer, got 2.5"):
        nn.Conv2D(2.5, 3, 3)
    with pytest.raises(ValueError, match="kernel_size must be an integer"):
        nn.Conv2D(2, 3, 2.5)
    layer = nn.Dense(3, 2)  # float32
    y = layer.forward(B.normal((4, 3)))
    with pytest.raises(B.BackendMismatchError, match="expected dtype float32, received float64"):
        layer.backward(B.normal(y.shape, dtype="float64"))


def test_losses_refuse_targets_and_bandwidths_outside_their_range(backend_name):
    logits = B.normal((4, 1))
    with pytest.raises(ValueError, match=r"targets must be in \[0, 1\], got 1.5"):
        sigmoid_cross_entropy(logits, 1.5)
    with pytest.raises(ValueError, match=r"targets must be in \[0, 1\]"):
        sigmoid_cross_entropy(logits, B.get_backend().full((4, 1), -0.1, dtype=logits.dtype))
    for bad in ((), (0.0,), (1.0, -2.0)):
        with pytest.raises(ValueError, match="bandwidths must be one or more positive numbers from 0.0001 to 10000"):
            mmd2(B.normal((3, 2)), B.normal((3, 2)), bad)


def test_infinite_logits_cost_nothing_with_the_target_they_predict(backend_name):
    xp = B.get_backend()
    logits = B.asarray(np.array([[np.inf], [-np.inf]]))
    loss, grad = sigmoid_cross_entropy(logits, B.asarray(np.array([[1.0], [0.0]])))
    assert float(loss) == 0.0 and bool(xp.isfinite(grad).all())
    loss, _ = sigmoid_cross_entropy(logits, B.asarray(np.array([[0.0], [1.0]])))
    assert math.isinf(float(loss))  # confidently wrong: an infinite loss, not nan


def test_a_bad_thread_count_in_the_environment_is_named(monkeypatch):
    monkeypatch.setenv("NPGAN_NUM_THREADS", "abc")
    monkeypatch.setitem(runtime._threads, "n", None)
    with pytest.raises(ValueError, match="NPGAN_NUM_THREADS must be a positive integer, got 'abc'"):
        runtime.num_threads()


def test_the_classifier_refuses_a_nan_learning_rate():
    from npgan.evaluation import classifier
    with pytest.raises(ValueError, match="lr must be a positive number, got nan"):
        classifier.train(None, None, lr=float("nan"))


def test_a_truncated_gz_idx_file_is_named(tmp_path):
    from npgan.idx import read_idx, write_idx
    path = tmp_path / "images.gz"
    write_idx(str(path), np.zeros((10, 4, 4), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(ValueError, match=r"cannot read IDX file .*images.gz"):
        read_idx(str(path))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_parameter_keeps_its_dtype_through_save_and_load(tmp_path, backend_name, dtype):
    B.set_dtype(dtype)
    layer = nn.Sequential(nn.Dense(3, 2), nn.BatchNorm(2))
    path = layer.save(tmp_path / "m.npz")
    B.set_dtype("float32" if dtype == "float64" else "float64")  # the other default while loading
    B.set_dtype(dtype)
    again = nn.Sequential(nn.Dense(3, 2), nn.BatchNorm(2))
    B.set_dtype("float32" if dtype == "float64" else "float64")
    again.load(path)
    assert {p.data.dtype.name for p in again.parameters()} == {dtype}
    assert {a.dtype.name for _, a in again.named_buffers()} == {dtype}


def test_each_discriminator_step_starts_from_zero_gradients(f64):
    from npgan.gan import GANTrainer
    G = nn.Sequential(nn.Dense(2, 4), nn.Tanh(), nn.Dense(4, 2))
    D = nn.Sequential(nn.Dense(2, 4), nn.Tanh(), nn.Dense(4, 1))
    gan = GANTrainer(G, D, 2)
    real, z = B.normal((5, 2)), B.normal((5, 2))
    gan.discriminator_gradients(real, z=z)
    once = [B.to_numpy(p.grad, copy=True) for p in D.parameters()]
    gan.discriminator_gradients(real, z=z)  # the same batch again: the same gradients, not twice them
    for a, p in zip(once, D.parameters()):
        np.testing.assert_array_equal(B.to_numpy(p.grad), a)


# ------------------------------------------------------------------------------------ fuzz
VALUES = st.one_of(st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e12", "abc", "", "2.5", "1", "3",
                                    "0.5", "ring8", "--", "-5", str(10**9)]),
                   st.text(max_size=6))
# --steps and --log-every are left out: a valid large value is a legitimately long run
OPTIONS = ["--lr", "--batch-size", "--hidden", "--depth", "--latent-dim", "--d-steps", "--pack",
           "--label-smoothing", "--gp", "--r1", "--seed", "--noise", "--loss", "--trainer",
           "--betas", "--bandwidths", "--data", "--width", "--model", "--eval"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=st.lists(st.tuples(st.sampled_from(OPTIONS), VALUES), max_size=3))
def test_fuzzed_command_lines_end_in_one_line_or_a_run(tmp_path_factory, capsys, picks):
    folder = tmp_path_factory.mktemp("fuzz")
    argv = ["train", "--out", str(folder / "run"), "--no-progress", "--steps", "2", "--log-every", "2",
            "--hidden", "4", "--depth", "1", "--batch-size", "8"]
    for option, value in picks:
        argv += [option, value]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse refusing an option or its value
        code = exc.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert code in (0, 2, 3), (argv, code, err)
    if code != 0:
        assert err.count("\n") == 1 and err.endswith("\n") and err.startswith("npgan: "), (argv, err)
        assert err[:-1].isprintable(), (argv, err)  # no control character reaches the terminal
        if code == 2:
            assert not (folder / "run" / "checkpoint.npz").exists(), argv  # nothing written


def test_a_control_character_in_an_argument_is_shown_escaped_in_the_one_line(capsys):
    """Found by the fuzz: an argument holding U+001E (which Python's splitlines counts as a line
    break) was echoed raw into the error line."""
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--out", "x", "--eval", "\x1e"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err == "npgan: error: unrecognized arguments: --eval \\x1e\n", err


def test_a_second_backward_for_one_forward_is_refused(backend_name):
    net = nn.Sequential(nn.Dense(3, 4), nn.ReLU(), nn.Dense(4, 1))
    y = net.forward(B.normal((5, 3)))
    g = B.get_backend().ones_like(y)
    net.backward(g)
    with pytest.raises(RuntimeError, match=r"Dense\(4->1\): backward called a second time for one forward"):
        net.backward(g)
    net.forward(B.normal((5, 3)))
    net.backward(g)  # a new forward pass: fine


def test_forged_and_bomb_archives_are_refused_before_inflating(tmp_path):
    import io
    import zipfile

    from npgan.io import load_npz
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (10**12, 2)})
    with zipfile.ZipFile(tmp_path / "forged.npz", "w") as z:
        z.writestr("G.0.weight.npy", header.getvalue())
    with pytest.raises(ValueError, match=r"'G.0.weight' claims shape \(1000000000000, 2\)"):
        load_npz(tmp_path / "forged.npz")
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("a.npy", "w") as f:
            np.lib.format.write_array(f, np.zeros(1 << 20, dtype=np.float32))  # 4 MB of zeros, ~4 kB packed
    assert (tmp_path / "bomb.npz").stat().st_size < 100_000
    with pytest.raises(ValueError, match="more than an npgan file holds"):
        load_npz(tmp_path / "bomb.npz", max_bytes=1 << 20)
    assert load_npz(tmp_path / "bomb.npz")["a"].shape == (1 << 20,)  # under the default bound: read
