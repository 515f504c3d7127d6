"""The benchmarks run (a smoke test on the smallest model; no timing is asserted), each as
``python -m benchmarks.NAME`` from the repository root, as documented."""

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _bench_module(name):
    return importlib.import_module(f"benchmarks.{name}")


def _run(name, *args, timeout=300):
    """``python -m benchmarks.NAME ARGS`` from the repository root."""
    return subprocess.run([sys.executable, "-m", f"benchmarks.{name}", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


class FakeClock:
    """A clock that moves only when a timed call says so: timing tests that no machine's load can fail."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        return self.now

    def spend(self, seconds):
        self.now += seconds


def test_time_ab_alternates_blocks_and_returns_each_median(monkeypatch):
    common = _bench_module("common")
    clock, calls = FakeClock(), []
    monkeypatch.setattr(common.time, "perf_counter", clock.perf_counter)
    ta, tb = common.time_ab(lambda: (calls.append("a"), clock.spend(0.004)),
                            lambda: (calls.append("b"), clock.spend(0.001)), repeat=4, warmup=1, rounds=2)
    # warm-up pair, then per round: one untimed call and 2 timed ones of each
    assert calls == ["a", "b"] + (["a"] * 3 + ["b"] * 3) * 2
    assert (ta, tb) == pytest.approx((0.004, 0.001))


def test_iteration_benchmark_runs_on_toy2d_and_its_json_is_a_cpu_reference(tmp_path):
    out = _run("iteration", "--models", "toy2d", "--batches", "32", "64", "--repeat", "2", "--threads", "1",
               "--backends", "numpy", "--json", tmp_path / "cpu.json")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"# {_bench_module('common').machine_line()}; NumPy ")  # the one header format
    rows = [line.split() for line in out.stdout.splitlines() if line.startswith("toy2d")]
    assert [r[1] for r in rows] == ["32", "64"] and all(float(r[3]) > 0 for r in rows)
    reference, label = _bench_module("iteration").load_reference(tmp_path / "cpu.json")
    assert set(reference) == {("toy2d", 32), ("toy2d", 64)}
    assert abs(reference[("toy2d", 64)] - float(rows[1][3])) <= 0.0051  # the printed ms (2 decimals)
    assert label.startswith(f"{os.cpu_count()}-core CPU, 1 thr, ")
    out = _run("iteration", "--models", "toy2d", "--batches", "32", "--repeat", "2", "--threads", "1",
               "--backends", "numpy", "--no-torch", "--cpu-reference", tmp_path / "cpu.json")
    assert out.returncode == 0, out.stderr
    assert " vs " not in out.stdout  # speed-ups only on GPU rows


def test_profile_step_times_every_layer_and_optimiser_step_once_per_call():
    out = _run("profile_step", "--model", "toy2d", "--batch", "16", "--repeat", "2", "--threads", "1")
    assert out.returncode == 0, out.stderr
    layers, products = out.stdout.split("\n\n")
    calls = {" ".join(line.split()[:3]): int(line.split()[3]) for line in layers.splitlines()
             if line[:2] in ("G.", "D.", "G ", "D ")}
    # Algorithm 1 with k = 1: D runs on real, on fakes and in G's step; G forward twice, backward once
    assert calls["D.0 Dense forward"] == calls["D.0 Dense backward"] == 3
    assert calls["G.0 Dense forward"] == 2 and calls["G.0 Dense backward"] == 1
    assert calls["G Adam step"] == calls["D Adam step"] == 1
    assert len(calls) == 2 * (5 + 5) + 2  # each of the 5 layers of G and of D, both passes; two steps
    whole = float(layers.splitlines()[-1].split()[-2])
    parts = float(layers.splitlines()[-2].split()[-2])
    assert 0 < parts <= whole
    # the products table: each Dense's three products, but no input gradient for G's noise
    counts = {line[:34].strip(): int(line[34:40]) for line in products.splitlines() if line[:2] in ("G.", "D.")}
    assert len(counts) == 3 * 6 - 1 and "G.0 Dense input grad" not in counts
    assert counts["D.0 Dense input grad"] == 1 and counts["D.2 Dense input grad"] == 3
    assert counts["D.0 Dense weight grad"] == 2 and counts["G.2 Dense forward"] == 2
    alone = float(products.splitlines()[-2].split()[-5])
    assert 0 < alone < whole and products.splitlines()[-1].startswith("outside the matrix products")


def test_matrix_products_count_the_forward_flops():
    """The products' forward entries, run as often as the role says, add up to the models'
    multiply-adds counted by hand (2 per multiply-add, per sample)."""
    iteration = _bench_module("iteration")
    by_hand = {  # (G, D): weights of the Dense layers, C_in * C_out * 16 * output pixels of the convolutions
        "toy2d": (2 * 128 + 128 * 128 + 128 * 2, 2 * 128 + 128 * 128 + 128 * 1),
        "mlp784": (100 * 256 + 256 * 512 + 512 * 784, 784 * 512 + 512 * 256 + 256 * 1),
        "dcgan28": (100 * 6272 + 128 * 64 * 16 * 49 + 64 * 1 * 16 * 196,
                    1 * 64 * 16 * 196 + 64 * 128 * 16 * 49 + 6272 * 1),
    }
    for name in iteration.MODELS:
        G, D = iteration.npgan_models(name)
        latent, shape = iteration.MODELS[name]
        for model, role, inp, macs in ((G, "G", (4, latent), by_hand[name][0]), (D, "D", (4,) + shape, by_hand[name][1])):
            assert iteration.forward_flops(model, inp) == 2 * 4 * macs, (name, role)
            forward = [count for label, _, count in iteration.matrix_products(model, inp, role)
                       if label.endswith(" forward")]
            assert forward and set(forward) == {iteration.PRODUCT_COUNTS[role][0]}, (name, role)


def test_tf32_is_chosen_alike_for_cupy_and_pytorch(monkeypatch):
    import pytest
    torch = pytest.importorskip("torch")
    common = _bench_module("common")
    for on in (True, False):
        monkeypatch.setenv("CUPY_TF32", "1" if on else "0")
        common.set_torch_tf32(torch, on)
        word = "on" if on else "off"
        assert common.tf32_line(torch) == f"TF32: CuPy {word} (CUPY_TF32), PyTorch matmul {word}, cuDNN conv {word}"


def test_gpu_check_benchmark_and_profile_commands_run(tmp_path):
    # the same command lines gpu_check runs on a GPU, here with the NumPy backend
    gpu_check = _bench_module("gpu_check")
    ok, rows = gpu_check.check_benchmark(True, tmp_path, backend="numpy", models=["toy2d"])
    assert ok, rows
    assert any(r.startswith("toy2d") for r in rows) and any(r.startswith("D conv2") for r in rows)
    assert (tmp_path / "iteration.json").exists()
    ok, rows = gpu_check.check_profile(True, backend="numpy")
    assert ok, rows
    assert any(r.startswith("whole iteration") for r in rows)


def test_quality_script_writes_its_table_under_out(tmp_path):
    out = _run("quality", "--seeds", "0", "--data", "ring8", "--trainers", "gan", "--steps", "3", "--out", tmp_path)
    assert out.returncode == 0, out.stderr
    rows = [r for r in (tmp_path / "QUALITY.md").read_text().splitlines() if r.startswith("| ring8 | gan |")]
    assert len(rows) == 1 and "/8 |" in rows[0]
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == 1


def test_mode_profile_script_prints_a_row_per_checkpoint(tmp_path):
    from npgan.gan.config import make_config
    from npgan.gan.runner import train
    cfg = make_config(data="ring8", trainer="mmd", steps=4, log_every=4, hidden=8, depth=1, batch_size=16,
                      eval_samples=100, eval_mmd=50)
    train(cfg, tmp_path / "run", progress=False, plots=False)
    out = _run("mode_profile", tmp_path / "run" / "checkpoint.npz", "-n", "500", timeout=120)
    assert out.returncode == 0, out.stderr
    row = out.stdout.splitlines()[-1].split()
    assert row[0].endswith("checkpoint.npz") and len(row) == 5 and row[1].endswith("%")


def test_gpu_check_says_in_one_line_that_no_device_is_usable(tmp_path):
    from npgan import backend as B
    if B.cupy_available():
        import pytest
        pytest.skip("a CUDA device is usable here: gpu_check runs its checks instead")
    out = _run("gpu_check", "--out", tmp_path, timeout=120)
    assert out.returncode == 3
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpu_check: no usable CUDA device: ")
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_gpu_check_compares_runs_by_modes_and_quality():
    same_run = _bench_module("gpu_check").same_run
    cpu = {"modes": 8, "high_quality": 0.985}
    assert same_run(cpu, {"modes": 8, "high_quality": 0.97})
    assert not same_run(cpu, {"modes": 8, "high_quality": 0.96})      # 2.5 points apart
    assert not same_run(cpu, {"modes": 7, "high_quality": 0.985})
    assert not same_run({}, {})                                         # a run that failed


def test_penalty_benchmark_prints_a_ratio_per_penalty():
    out = _run("penalty", "--batch", "4", "--repeat", "2", "--threads", "1")
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split() for line in out.stdout.splitlines() if line[:2] in ("gp", "r1")}
    assert set(rows) == {"gp", "r1"} and all(float(r[3]) > 1.0 for r in rows.values())


def test_contention_benchmark_times_quiet_and_busy():
    out = _run("contention", "--models", "ring8", "--seconds", "0.2", "--policy", "npgan", "one")
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines() if line.startswith("ring8")]
    assert [r[1] for r in rows] == ["npgan", "one"] and rows[1][2] == "1/1"
    assert all(float(r[3]) > 0 and float(r[4]) > 0 for r in rows)


def test_gpu_check_writes_each_check_as_it_ends_and_gathers_them(tmp_path, monkeypatch):
    # the whole script with the NumPy backend standing in for the GPU's
    gpu_check = _bench_module("gpu_check")
    from npgan import backend as B
    monkeypatch.setattr(gpu_check, "GPU", "numpy")
    monkeypatch.setattr(B, "cupy_unavailable_reason", lambda: None)
    monkeypatch.setattr(gpu_check, "device_lines", lambda: ["- a device"])
    out = tmp_path / "gpu"
    assert gpu_check.main(["--out", str(out), "--only", "profile", "--quick"]) == 0
    assert gpu_check.main(["--out", str(out), "--only", "tests", "--tests", "tests/test_idx.py"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["gpu_check.md", "profile.md", "tests.md"]
    report = (out / "gpu_check.md").read_text()
    assert report.startswith("# npgan on a GPU\n\n- a device\n")
    # both calls' sections, once each, in the checks' order
    headings = [line for line in report.splitlines() if line.startswith("## ")]
    assert headings == [f"## {gpu_check.CHECKS['tests']}: passed", f"## {gpu_check.CHECKS['profile']}: passed"]
    assert "| tests/test_idx.py | " in report and "whole iteration" in report


def test_profile_clocks_read_cuda_events_after_the_step(monkeypatch):
    # CuPy's event API, imitated: the device clock is read only after collect()
    profile_step = _bench_module("profile_step")
    clock = FakeClock()
    monkeypatch.setattr(profile_step.time, "perf_counter", clock.perf_counter)

    class Event:
        def record(self):
            self.t = clock.perf_counter()

    fake_cupy = type("cupy", (), {"cuda": type("cuda", (), {
        "Event": Event, "get_elapsed_time": staticmethod(lambda s, e: (e.t - s.t) * 1e3)})})

    class Work:
        def run(self):
            clock.spend(0.002)

    clocks, work = profile_step.Clocks(fake_cupy), Work()
    clocks.wrap(work, "run", ("W", 0, "Work", "run"))
    work.run()
    work.run()
    key = ("W", 0, "Work", "run")
    assert clocks.calls[key] == 2 and clocks.host[key] == pytest.approx(0.004) and clocks.device[key] == 0
    clocks.collect()
    assert abs(clocks.device[key] - 0.004) < 1e-12 and clocks._events == []


def test_pytorch_runs_on_the_device_of_npgans_backend():
    torch_device = _bench_module("common").torch_device

    def fake_torch(cuda: bool):
        return type("torch", (), {"cuda": type("cuda", (), {"is_available": staticmethod(lambda: cuda),
                                                            "synchronize": staticmethod(lambda: "synced")})})

    assert torch_device(None, "numpy") is None and torch_device(None, "cupy") is None
    device, sync = torch_device(fake_torch(True), "numpy")
    assert device == "cpu" and sync() is None
    device, sync = torch_device(fake_torch(True), "cupy")
    assert device == "cuda" and sync() == "synced"
    assert torch_device(fake_torch(False), "cupy") is None  # a CPU-only PyTorch is not timed beside CuPy


def test_benchmarks_and_demos_run_as_modules_and_leave_sys_path_alone():
    for path in sorted([*ROOT.glob("benchmarks/*.py"), *ROOT.glob("demos/*.py")]):
        text = path.read_text()
        assert "sys.path" not in text and "PYTHONPATH" not in text, path
        if path.stem != "__init__" and path.stem != "common":
            assert f"python -m {path.parent.name}.{path.stem}" in text, f"{path}: its docstring shows the command"


def test_every_table_starts_with_the_same_header():
    common = _bench_module("common")
    line = common.header_line("backend numpy", "", "float32", threads=2, allocator="allocator: default")
    parts = line.split("; ")
    assert parts[0] == common.machine_line() and parts[1].startswith("NumPy ")
    assert parts[3:] == ["2 thread(s)", "allocator: default", "backend numpy", "float32"]  # empty details left out
    table = _bench_module("baselines").table(
        [{"method": "dcgan", "seed": 0, "command": "npgan train --data fashion-mnist --seed 0", "fd": 30.0,
          "precision": 0.5, "recall": 0.4, "density": 0.9, "coverage": 0.8, "kid": 0.02, "minutes": 6.0}], [0], 1)
    assert table.startswith(f"Mean ± std over seeds 0 ({common.machine_line()}; NumPy ")
    assert "1 thread(s) per run)." in table.splitlines()[0]
    assert "    npgan train --data fashion-mnist --seed S --out RUN" in table


def test_compare_times_two_trees_in_turn_and_refuses_a_tree_without_the_benchmarks(tmp_path):
    out = _run("compare", ".", "--models", "toy2d", "--batches", "8", "--rounds", "2", "--block", "2",
               "--threads", "1", "--after-env", "OPENBLAS_THREAD_TIMEOUT=20")
    assert out.returncode == 0, out.stderr
    header, columns, row = out.stdout.strip().splitlines()
    assert "before " in header and "after " in header and columns.split()[:3] == ["model", "batch", "before"]
    before_side, after_side = header.split("before ")[1].split("; ")[0], header.split("after ")[1].split("; ")[0]
    assert after_side.endswith(" OPENBLAS_THREAD_TIMEOUT=20") and "OPENBLAS" not in before_side
    model, batch, before, after, ratio = row.split()[:5]
    assert (model, batch) == ("toy2d", "8") and float(before) > 0 and float(after) > 0
    rounding = 0.01 / min(float(before), float(after))  # the times are printed to 0.01 ms
    assert abs(float(ratio) - float(after) / float(before)) <= rounding + 1e-3  # after / before
    refused = _run("compare", str(tmp_path))
    assert refused.returncode != 0 and "not an npgan source tree" in refused.stderr
    refused = _run("compare", ".", "--after-env", "OPENBLAS_CORETYPE")
    assert refused.returncode != 0 and "expected VAR=VALUE" in refused.stderr.strip().splitlines()[-1]
