"""A seeded baseline table on Fashion-MNIST: the DCGAN recipe, SN-GAN and WGAN-GP, mean ± std over seeds.

    python -m benchmarks.baselines [--seeds 0 1 2] [--methods dcgan sngan wgan-gp] [--threads 1]
                                   [--out runs/baselines] [--table PATH]

(from the repository root, where ``python -m`` finds ``benchmarks`` and ``npgan``).

Each run is exactly the command line printed beside it (``npgan train --data fashion-mnist``
plus the method's options), followed by ``npgan evaluate`` on its final checkpoint: Fréchet
distance, precision/recall, density/coverage and KID, all in the features of npgan's own
Fashion-MNIST classifier (trained first by ``npgan train-classifier`` where there is none),
so the figures are not comparable with Inception-based FIDs. Training time is the wall time
of ``npgan train``, logging steps included.

A run whose result file exists is not run again, so an interrupted sweep continues where it
stopped (a half-trained run is continued from its checkpoint with ``--resume``, and its
time is then marked as not whole). The table (markdown) goes to --table, else OUT/BASELINES.md.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .common import header_line

# Each method: the options it adds to the recipe of `npgan train --data fashion-mnist`
METHODS = {
    "dcgan": ("DCGAN recipe (non-saturating, BatchNorm in D)", []),
    "sngan": ("SN-GAN (hinge, spectral norm in D)", ["--loss", "hinge", "--d-norm", "spectral"]),
    "wgan-gp": ("WGAN-GP (λ = 10, LayerNorm in D, 5 critic steps)", ["--loss", "wasserstein", "--gp", "10"]),
}
COLUMNS = [("fd", "FD ↓", 2), ("precision", "precision ↑", 3), ("recall", "recall ↑", 3),
           ("density", "density", 3), ("coverage", "coverage ↑", 3), ("kid", "KID ↓", 3),
           ("minutes", "train min", 1)]


def npgan(*args) -> list:
    """The command line of ``npgan ARGS`` run by this Python."""
    return [sys.executable, "-m", "npgan", *args]


def run_one(method: str, seed: int, out: Path, steps) -> dict:
    """Train (or continue) one run and evaluate its final checkpoint; the result dict."""
    folder = out / f"{method}-seed{seed}"
    result_file = folder / "baseline.json"
    if result_file.exists():
        return json.loads(result_file.read_text())
    train = ["train", "--data", "fashion-mnist", "--seed", str(seed), *METHODS[method][1], "--no-progress"]
    if steps:
        train += ["--steps", str(steps)]
    resumed = (folder / "checkpoint.npz").exists()
    command = npgan(*(["train", "--resume", str(folder), "--no-progress"] if resumed else train + ["--out", str(folder)]))
    t0 = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - t0
    evaluated = subprocess.run(npgan("evaluate", str(folder)), check=True, capture_output=True, text=True)
    result = json.loads(evaluated.stdout.strip().splitlines()[-1])
    result.update(method=method, seed=seed, minutes=seconds / 60, whole_time=not resumed,
                  command="npgan " + " ".join(train))
    result_file.write_text(json.dumps(result) + "\n")
    return result


def mean_std(values: list, digits: int) -> str:
    if len(values) < 2:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.fmean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def table(results: list, seeds: list, threads: int) -> str:
    per_run = f"{threads} thread(s) per run" if threads else "governed threads per run"
    lines = [f"Mean ± std over seeds {', '.join(map(str, seeds))} ({header_line(per_run)}).", "",
             "| method | " + " | ".join(name for _, name, _ in COLUMNS) + " |",
             "|---|" + "---|" * len(COLUMNS)]
    for method, (label, _) in METHODS.items():
        runs = [r for r in results if r["method"] == method]
        if runs:
            cells = [mean_std([r[key] for r in runs], digits) for key, _, digits in COLUMNS]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "Each run:", "", "| method | seed | " + " | ".join(name for _, name, _ in COLUMNS) + " |",
              "|---|---|" + "---|" * len(COLUMNS)]
    for r in sorted(results, key=lambda r: (list(METHODS).index(r["method"]), r["seed"])):
        cells = [f"{r[key]:.{digits}f}" for key, _, digits in COLUMNS]
        lines.append(f"| {METHODS[r['method']][0].split(' (')[0]} | {r['seed']} | " + " | ".join(cells) + " |")
    lines += ["", "Commands (each followed by `npgan evaluate RUN`):", ""]
    for method in METHODS:
        runs = [r for r in results if r["method"] == method]
        if runs:
            lines.append(f"    {runs[0]['command'].replace('--seed ' + str(runs[0]['seed']), '--seed S')} --out RUN")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    ap.add_argument("--threads", type=int, default=0,
                    help="threads per run (OMP_NUM_THREADS); 0: npgan's own choice, every core while the machine is quiet")
    ap.add_argument("--out", default="runs/baselines")
    ap.add_argument("--table", help="where to write the table (default: OUT/BASELINES.md)")
    ap.add_argument("--steps", type=int, help="override every run's step count (a quick check of the script)")
    args = ap.parse_args(argv)
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = os.environ["NPGAN_NUM_THREADS"] = str(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if subprocess.run(npgan("evaluate", "--help"), capture_output=True).returncode != 0:
        sys.exit("baselines: the npgan command does not run from here; pip install -e '.[plot]'")
    home = os.environ.get("NPGAN_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "npgan")
    if not os.path.exists(os.path.join(home, "fashion-mnist-classifier.npz")):
        subprocess.run(npgan("train-classifier", "--no-progress"), check=True)
    results = []
    for seed in args.seeds:  # seed by seed, so a partial sweep has every method
        for method in args.methods:
            r = run_one(method, seed, out, args.steps)
            results.append(r)
            print(f"{method:8} seed {seed}: FD {r['fd']:.2f}, precision {r['precision']:.3f}, recall {r['recall']:.3f}, "
                  f"KID {r['kid']:.3f}, {r['minutes']:.1f} min", flush=True)
    text = table(results, args.seeds, args.threads)
    Path(args.table or out / "BASELINES.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
