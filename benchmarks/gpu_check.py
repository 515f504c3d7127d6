"""Validate a GPU machine: the CuPy tests, a seeded run on both backends, the benchmarks.

    python -m benchmarks.gpu_check [--out runs/gpu_check] [--only tests run benchmark profile]
                                   [--tests tests/nn/test_conv.py ...] [--steps 12000] [--quick]

Runs from the root of a source checkout, with no install and no network (NumPy, CuPy, pytest
and hypothesis installed; PyTorch and matplotlib optional); every command it starts runs
there too, as ``python -m``. Four checks, each written to
``OUT/<check>.md`` as soon as it ends and gathered into ``OUT/gpu_check.md`` with the
device, driver, CUDA runtime, CuPy and NumPy versions and the date:

1. ``tests``: the test suite with ``NPGAN_BACKEND=cupy``, in chunks (one folder of
   ``tests/`` each, or the paths given to ``--tests``), each its own pytest process
   stopped after ``--chunk-timeout`` seconds (default 480);
2. ``run``: the README's main run (``npgan train --data ring8``, seed 0, ``--steps`` steps)
   on NumPy and on CuPy: the same number of modes, and high-quality shares within 2 points;
3. ``benchmark``: ``benchmarks.iteration`` on CuPy (toy2d, mlp784, dcgan28 at batch
   64, 256 and 1024) against PyTorch on the same GPU in the same run and against the 2-core
   CPU of ``benchmarks/cpu_reference.json``, then ``benchmarks.layers`` on CuPy;
4. ``profile``: ``benchmarks.profile_step`` on CuPy, dcgan28 at batch 256: where an
   iteration's time goes, host and device, per layer and per optimiser step.

``--only`` runs some of them; several calls with the same ``--out`` build one report, so the
checks can run as separate commands where a command's time is limited.

Exit status: 0 when every check run passed, 1 when one failed, 3 when no CUDA device is
usable (one line says why; nothing else runs).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .common import gpu_info

ROOT = Path(__file__).resolve().parent.parent  # the checkout: every command runs there
NO_DEVICE = 3
GPU = "cupy"  # the backend the checks time and test (tests of this script set "numpy")
CHUNKS = ["tests/backend", "tests/nn", "tests/gan", "tests/evaluation", "tests/demos",
          "tests/test_*.py"]


def device_lines() -> list:
    import numpy
    return [f"- {gpu_info()['gpu']}",
            f"- NumPy {numpy.__version__}, Python {sys.version.split()[0]}",
            f"- CUPY_TF32={os.environ.get('CUPY_TF32', '0')} (TF32 matrix products off unless 1)",
            f"- date: {time.strftime('%Y-%m-%d %H:%M')}"]


def run(cmd, timeout, env=None) -> tuple:
    """(exit status, last output line, stdout, seconds) of a command run from the checkout's root
    (``python -m`` finds ``npgan``, ``benchmarks`` and the tests' modules there)."""
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                           env={**os.environ, **(env or {})})
        lines = (r.stdout + r.stderr).strip().splitlines() or [""]
        return r.returncode, lines[-1], r.stdout, time.perf_counter() - t0
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {timeout} s", "", time.perf_counter() - t0


def check_tests(timeout: int, quick: bool, paths=None) -> tuple:
    rows, ok = ["| chunk | result | s |", "|---|---|---|"], True
    chunks = paths or (CHUNKS[:2] if quick else CHUNKS)
    for chunk in chunks:
        chunk_paths = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob(chunk)) if "*" in chunk else [chunk]
        code, last, _, secs = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *chunk_paths],
                                  timeout, env={"NPGAN_BACKEND": GPU})
        ok &= code == 0
        rows.append(f"| {chunk} | {last} | {secs:.0f} |")
        print(f"gpu_check: {chunk}: {last} ({secs:.0f} s)", flush=True)
    return ok, rows


def same_run(a: dict, b: dict) -> bool:
    """Two runs' final metrics agree: the same modes, high-quality shares within 2 points."""
    return bool(a.get("modes")) and a.get("modes") == b.get("modes") and \
        abs(a.get("high_quality", 0) - b.get("high_quality", 1)) <= 0.02


def check_same_run(steps: int, out: Path) -> tuple:
    """The seeded ring8 run on both backends: modes equal, high quality within 2 points."""
    final = {}
    for backend in ("numpy", "cupy"):
        code, last, stdout, secs = run([sys.executable, "-m", "npgan", "train", "--data", "ring8",
                                        "--steps", str(steps), "--out", str(out / f"ring8-{backend}"),
                                        "--no-progress", "--backend", backend], timeout=3600)
        lines = [line for line in stdout.splitlines() if line.startswith("{")]
        final[backend] = dict(json.loads(lines[-1]) if code == 0 and lines else {}, seconds=round(secs, 1))
    ok = same_run(final["numpy"], final["cupy"])
    rows = ["| backend | modes | high quality | reverse KL | s |", "|---|---|---|---|---|"]
    rows += [f"| {k} | {v.get('modes')}/{v.get('n_modes')} | {v.get('high_quality')} | "
             f"{v.get('reverse_kl')} | {v['seconds']} |" for k, v in final.items()]
    return ok, rows


def check_benchmark(quick: bool, out: Path, backend: str, models=None) -> tuple:
    """benchmarks.iteration and benchmarks.layers on ``backend`` (``GPU``; NumPy only to test these commands)."""
    batches = ["64"] if quick else ["64", "256", "1024"]
    code, last, stdout, _ = run([sys.executable, "-m", "benchmarks.iteration", "--backends", backend,
                                 "--batches", *batches, *(["--models", *models] if models else []),
                                 "--json", str(out / "iteration.json"),
                                 "--cpu-reference", "benchmarks/cpu_reference.json"], timeout=3600)
    rows = ["```text", *(stdout.strip().splitlines() or [last]), "```"]
    for batch in batches[:2]:
        code2, last2, stdout2, _ = run([sys.executable, "-m", "benchmarks.layers", "--backend", backend,
                                        "--batch", batch], timeout=600)
        code = code or code2
        rows += ["", "```text", *(stdout2.strip().splitlines() or [last2]), "```"]
    return code == 0, rows


def check_profile(quick: bool, backend: str) -> tuple:
    code, last, stdout, _ = run([sys.executable, "-m", "benchmarks.profile_step", "--backend", backend,
                                 "--model", "dcgan28", "--batch", "64" if quick else "256"], timeout=600)
    return code == 0, ["```text", *(stdout.strip().splitlines() or [last]), "```"]


CHECKS = {  # name: title
    "tests": "Tests with NPGAN_BACKEND=cupy",
    "run": "ring8 on NumPy and on CuPy",
    "benchmark": "Training iteration and layers: GPU, PyTorch on the GPU, 2-core CPU",
    "profile": "Where a dcgan28 iteration's time goes on the GPU",
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/gpu_check")
    ap.add_argument("--only", nargs="+", choices=list(CHECKS), default=list(CHECKS), help="the checks to run")
    ap.add_argument("--tests", nargs="+", metavar="PATH", help="test chunks to run instead of one per folder")
    ap.add_argument("--steps", type=int, default=12000, help="steps of the ring8 run on each backend")
    ap.add_argument("--chunk-timeout", type=int, default=480)
    ap.add_argument("--quick", action="store_true", help="two test chunks, 1,000 steps, batch 64 only")
    args = ap.parse_args(argv)
    from npgan import backend as B
    reason = B.cupy_unavailable_reason()
    if reason is not None:
        print(f"gpu_check: no usable CUDA device: {reason}")
        return NO_DEVICE
    from npgan.io import atomic_write
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    run_check = {"tests": lambda: check_tests(args.chunk_timeout, args.quick, args.tests),
                 "run": lambda: check_same_run(1000 if args.quick else args.steps, out),
                 "benchmark": lambda: check_benchmark(args.quick, out, GPU),
                 "profile": lambda: check_profile(args.quick, GPU)}
    results = []
    for name in (c for c in CHECKS if c in args.only):
        ok, rows = run_check[name]()
        results.append(ok)
        print(f"gpu_check: {CHECKS[name]}: {'passed' if ok else 'FAILED'}", flush=True)
        with atomic_write(out / f"{name}.md", "w") as f:  # kept if a later check is cut short
            f.write("\n".join([f"## {CHECKS[name]}: {'passed' if ok else 'FAILED'}", "",
                                f"{time.strftime('%Y-%m-%d %H:%M')}", "", *rows, ""]))
    report = ["# npgan on a GPU", "", *device_lines(), ""]
    report += [(out / f"{name}.md").read_text() for name in CHECKS if (out / f"{name}.md").exists()]
    with atomic_write(out / "gpu_check.md", "w") as f:
        f.write("\n".join(report))
    print(f"gpu_check: wrote {out / 'gpu_check.md'}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
