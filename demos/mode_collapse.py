"""Mode collapse and two remedies, on the ring of 8 and the grid of 25 Gaussians.

    python demos/mode_collapse.py [--steps 6000] [--out runs/demos/mode_collapse]

Three ways to train the same generator on each data set:

* ``GAN``: the plain adversarial game (non-saturating loss). Its failure mode is
  mode collapse: G can score well against the current D by putting its mass on
  a few modes, and the two may chase each other from mode to mode. Whether and
  when it happens depends on the seed and the networks: watch the mode counts.
* ``PacGAN-2``: the discriminator judges 2 samples at once (Lin et al. 2018). A
  collapsed G produces pairs that are too often from the same mode, which a
  packed D can see and punish.
* ``MMD``: no discriminator: the generator directly minimises MMD^2 between its
  samples and the data (generative moment matching). All modes pull on every
  sample through the kernel, so none is forgotten; with fixed kernel widths the
  samples come out more diffuse than a GAN's.

Writes ``mode_collapse.png`` (rows: data set x trainer; columns: training stages)
and ``metrics.md``, and prints the table: modes captured, high-quality fraction
and reverse KL on 2,500 samples at the end of each run (npgan.evaluation.metrics).
Each run uses `npgan train`'s defaults (the ring's adversarial runs: k = 2 discriminator
steps per generator step; the MMD runs: uniform noise, lr 1e-2) except what keeps the demo
under 5 minutes on 2 cores (3 min 43 s and 4 min 20 s in two runs): 6,000 steps instead of
12,000 (or the ring MMD's 30,000); the grid's adversarial runs at batch 512 instead of its
default 1,024, and with normal noise instead of its default uniform noise (which needs the
bigger batch to find every mode quickly); the MMD runs at batch 256 on both sets (grid25's
default is 512). The full-length runs and their 5-seed results are in benchmarks/QUALITY.md.
"""

import argparse
import os
import sys
import time
from pathlib import Path

# six small independent runs: one BLAS thread each, run side by side on the cores
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from npgan import backend as B  # noqa: E402
from npgan.evaluation.plot import pyplot, save_figure  # noqa: E402
from npgan.gan.config import make_config  # noqa: E402
from npgan.gan.runner import train  # noqa: E402
from npgan.io import atomic_write  # noqa: E402

# the MMD trainer keeps batch 256 on every data set: its kernel costs O(batch^2), and at 256
# it already covers all 25 grid modes
TRAINERS = [("GAN", dict(trainer="gan")), ("PacGAN-2", dict(trainer="gan", pack=2)),
            ("MMD", dict(trainer="mmd", batch_size=256))]
# the adversarial runs on grid25: half the default batch, to keep the demo under 5 minutes, and
# normal noise: at batch 512 and 6,000 steps the recipe's uniform noise finds the modes too
# slowly (seed 0: 23/25 modes, 74% high quality; normal noise: 25/25, 95%)
DEMO_CHANGES = {("grid25", "gan"): {"batch_size": 512, "noise": "normal"}}


def run_one(job):
    """One training run; returns (data, name, snapshots, final record, seconds)."""
    data, name, opts, args = job
    if args.backend:
        B.set_backend(args.backend)
    opts = {**DEMO_CHANGES.get((data, opts["trainer"]), {}), **opts}
    cfg = make_config(data=data, steps=args.steps, seed=args.seed,
                      log_every=max(1, args.steps // args.stages), **opts)
    snaps = []
    keep = lambda tr, ds, rec: snaps.append((rec["step"], B.to_numpy(tr.sample(1000)), rec))  # noqa: E731
    t0 = time.perf_counter()
    final = train(cfg, os.path.join(args.out, f"{data}-{name}"), plots=False, progress=False,
                  callback=keep)
    print(f"  {data} {name}: {final['modes']}/{final['n_modes']} modes, "
          f"{final['high_quality']:.1%} high quality ({time.perf_counter() - t0:.0f} s)", flush=True)
    return data, name, snaps, final, time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--stages", type=int, default=4, help="snapshots per run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", nargs="+", default=["ring8", "grid25"])
    ap.add_argument("--out", default="runs/demos/mode_collapse")
    ap.add_argument("--backend", choices=["numpy", "cupy"], help="array backend (default: the current one)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="runs trained side by side (numpy only; default: one per core)")
    args = ap.parse_args(argv)
    ap_jobs = [(data, name, opts, args) for data in args.data for name, opts in TRAINERS]
    order = sorted(range(len(ap_jobs)), key=lambda i: ap_jobs[i][0] != "grid25")  # longest runs first
    workers = 1 if (args.backend or B.backend_name()) == "cupy" else min(args.jobs, len(ap_jobs))
    print(f"training {len(ap_jobs)} runs of {args.steps} steps, {workers} at a time ...", flush=True)
    if workers > 1:
        import multiprocessing
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            done = pool.map(run_one, [ap_jobs[i] for i in order], chunksize=1)
        rows = [done[order.index(i)] for i in range(len(ap_jobs))]  # back to table order
    else:
        rows = [run_one(job) for job in ap_jobs]

    plt = pyplot()
    from npgan.data import get_dataset
    ncol = max(len(r[2]) for r in rows)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(2.6 * ncol, 2.6 * len(rows)), squeeze=False)
    for i, (data, name, snaps, _, _) in enumerate(rows):
        modes = get_dataset(data).modes()
        lim = 1.5 if data == "ring8" else 5.5
        for j, (step, x, rec) in enumerate(snaps):
            ax = axes[i][j]
            ax.scatter(modes[:, 0], modes[:, 1], marker="x", c="red", s=12, lw=0.8)
            ax.scatter(x[:, 0], x[:, 1], s=1, c="tab:green", alpha=0.5)
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"step {step}: {rec['modes']}/{rec['n_modes']}, {rec['high_quality']:.0%} HQ", fontsize=8)
            if j == 0:
                ax.set_ylabel(f"{name}\n{data}", fontsize=9)
    fig.suptitle("generated samples (green) and modes (red) during training")
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    os.makedirs(args.out, exist_ok=True)
    print("wrote", save_figure(fig, os.path.join(args.out, "mode_collapse.png")))

    lines = ["| data | trainer | modes | high quality | reverse KL | seconds |", "|---|---|---|---|---|---|"]
    for data, name, _, rec, secs in rows:
        lines.append(f"| {data} | {name} | {rec['modes']}/{rec['n_modes']} | {rec['high_quality']:.1%} | "
                     f"{rec['reverse_kl']:.3f} | {secs:.0f} |")
    table = "\n".join(lines)
    with atomic_write(os.path.join(args.out, "metrics.md"), "w") as f:
        f.write(f"{args.steps} steps per run, seed {args.seed}, 2,500 samples\n\n{table}\n")
    print(table)


if __name__ == "__main__":
    main()
