"""Validate a GPU machine in one command: the CuPy tests, a seeded run on both backends, the benchmark.

    PYTHONPATH=. python benchmarks/gpu_check.py [--out runs/gpu_check] [--steps 12000] [--quick]

Runs from a source checkout with no network (NumPy, CuPy, pytest and hypothesis
installed; PyTorch and matplotlib optional). Three checks, each recorded in
``OUT/gpu_check.md`` with the device, driver, CUDA runtime, CuPy and NumPy versions and
the date:

1. the test suite with ``NPGAN_BACKEND=cupy``, in chunks (one folder of ``tests/`` each)
   that each finish within ``--chunk-timeout`` seconds (default 480);
2. the README's main run (``npgan train --data ring8``, seed 0, ``--steps`` steps) on
   NumPy and on CuPy: the same number of modes, and high-quality shares within 2 points;
3. ``benchmarks/iteration.py`` on both backends (toy2d, mlp784, dcgan28 at batch 64,
   256 and 1024), its table copied into the results.

Exit status: 0 when every check passed, 1 when one failed, 3 when no CUDA device is
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
NO_DEVICE = 3
CHUNKS = ["tests/backend", "tests/nn", "tests/gan", "tests/evaluation", "tests/demos",
          "tests/test_*.py"]


def device_lines(cupy) -> list:
    rt = cupy.cuda.runtime
    props = rt.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    import numpy
    return [f"- device: {name}, {props['totalGlobalMem'] / 2**30:.0f} GiB",
            f"- driver: CUDA {rt.driverGetVersion()}; runtime {rt.runtimeGetVersion()}",
            f"- CuPy {cupy.__version__}, NumPy {numpy.__version__}, Python {sys.version.split()[0]}",
            f"- CUPY_TF32={os.environ.get('CUPY_TF32', '0')} (TF32 matrix products off unless 1)",
            f"- date: {time.strftime('%Y-%m-%d %H:%M')}"]


def run(cmd, timeout, env=None) -> tuple:
    """(exit status, last output line, stdout, seconds) of a command run from the checkout."""
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                           env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
        lines = (r.stdout + r.stderr).strip().splitlines() or [""]
        return r.returncode, lines[-1], r.stdout, time.perf_counter() - t0
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {timeout} s", "", time.perf_counter() - t0


def check_tests(timeout: int, quick: bool) -> tuple:
    rows, ok = ["| chunk | result | s |", "|---|---|---|"], True
    for chunk in CHUNKS[:2] if quick else CHUNKS:
        paths = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob(chunk)) if "*" in chunk else [chunk]
        code, last, _, secs = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *paths],
                                  timeout, env={"NPGAN_BACKEND": "cupy"})
        ok &= code == 0
        rows.append(f"| {chunk} | {last} | {secs:.0f} |")
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


def check_benchmark(quick: bool) -> tuple:
    batches = ["64"] if quick else ["64", "256", "1024"]
    code, last, stdout, _ = run([sys.executable, "benchmarks/iteration.py", "--threads", "2",
                                 "--backends", "numpy", "cupy", "--batches", *batches], timeout=3600)
    return code == 0, ["```text", *(stdout.strip().splitlines() or [last]), "```"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/gpu_check")
    ap.add_argument("--steps", type=int, default=12000, help="steps of the ring8 run on each backend")
    ap.add_argument("--chunk-timeout", type=int, default=480)
    ap.add_argument("--quick", action="store_true", help="two test chunks, 1,000 steps, batch 64 only")
    args = ap.parse_args(argv)
    from npgan import backend as B
    reason = B.cupy_unavailable_reason()
    if reason is not None:
        print(f"gpu_check: no usable CUDA device: {reason}")
        return NO_DEVICE
    import cupy
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = ["# npgan on a GPU", "", *device_lines(cupy), ""]
    results = []
    for title, check in (("Tests with NPGAN_BACKEND=cupy", lambda: check_tests(args.chunk_timeout, args.quick)),
                         ("ring8 on NumPy and on CuPy", lambda: check_same_run(1000 if args.quick else args.steps, out)),
                         ("Training iteration, CPU and GPU", lambda: check_benchmark(args.quick))):
        ok, rows = check()
        results.append(ok)
        report += [f"## {title}: {'passed' if ok else 'FAILED'}", "", *rows, ""]
        print(f"gpu_check: {title}: {'passed' if ok else 'FAILED'}", flush=True)
    from npgan.io import atomic_write
    with atomic_write(out / "gpu_check.md", "w") as f:
        f.write("\n".join(report))
    print(f"gpu_check: wrote {out / 'gpu_check.md'}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
