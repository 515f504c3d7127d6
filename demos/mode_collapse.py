"""Mode collapse, seen happening, and three remedies, on the ring of 8 Gaussians.

    python -m demos.mode_collapse [--steps 2500] [--seeds 0 1 2 3 4] [--out runs/demos/mode_collapse]

(from the repository root, where ``python -m`` finds ``demos`` and ``npgan``).

**The failure.** A plain GAN in the setting of the unrolled-GAN paper's ring (Metz et al.
2017): z ~ N(0, I) in R^256, a generator and a discriminator with two hidden layers of 128
units, Adam at a constant learning rate 1e-4 (beta1 0.5), one D step per G step (here batch
256 instead of the paper's 512, which hops the same at half the cost of a step). The generator
puts nearly all its mass on one mode; the discriminator learns to reject that mode; the
generator moves the whole lump to a neighbour, which D has meanwhile stopped watching; and
round the ring they go. At no step does G cover the data, yet every step is an honest
gradient step on the game: the alternating gradient steps circle the equilibrium instead
of reaching it (the 2014 paper's "Helvetica scenario", G mapping many z to one x).

**The remedies**, each in the same setting (same networks, noise, batch, steps):

* ``PacGAN-4``: D judges 4 samples at once (Lin et al. 2018). Four samples from a collapsed
  G come from one mode, four data samples rarely do: a packed D sees the collapse and G is
  pushed to spread.
* ``R1``: the gradient penalty gamma/2 E||grad_x D(x)||^2 on real samples (Mescheder et al.
  2018; gamma = 1), computed by npgan's hand-written double backward. D cannot grow steep
  walls around the data, so it cannot swing from one mode to the next, and the game
  converges instead of circling.
* ``MMD``: no discriminator: G minimises MMD^2 between its samples and the data
  (generative moment matching). Every mode pulls on every sample through the kernel. Its
  learning rate is its own (1e-3: there is no game to keep in balance).

Writes ``mode_hopping.png`` (for each trainer and seed, a heat map of the share of samples
nearest each mode, step by step: the plain GAN's lump shows as one bright cell walking down
the modes), ``mode_collapse.png`` (seed 0's samples at a few steps) and ``metrics.md``, and
prints the table: over the seeds, the final share of the fullest mode (1/8 when spread
evenly, 1 when collapsed), the modes holding at least half their fair share, the reverse KL
of those shares to the uniform 1/8 (log 8 = 2.08 when collapsed), the hops (the fullest mode
changing between snapshots while holding most of the mass), and the library's thresholded
metrics (``npgan.evaluation.metrics``: modes with a high-quality sample, high-quality share;
the ring's std is 0.01, and 2,500 steps at lr 1e-4 do not sharpen any trainer's modes to
3 std, so those two stay low for every row).
"""

import argparse
import math
import multiprocessing
import os
import time

# many small independent runs: one BLAS thread each, run side by side on the cores (set before
# npgan loads NumPy, whose BLAS reads them once)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from npgan import backend as B  # noqa: E402
from npgan.data import get_dataset  # noqa: E402
from npgan.evaluation.metrics import mode_shares, reverse_kl  # noqa: E402
from npgan.evaluation.plot import pyplot, save_figure  # noqa: E402
from npgan.gan.config import make_config  # noqa: E402
from npgan.gan.runner import train  # noqa: E402
from npgan.io import atomic_write  # noqa: E402

# the unrolled-GAN paper's ring setting (batch 256 instead of 512), in which a plain GAN hops
SETTING = dict(data="ring8", latent_dim=256, hidden=128, depth=2, d_steps=1, lr=1e-4,
               lr_decay="none", batch_size=256, noise="normal")
TRAINERS = [("GAN", dict(trainer="gan")), ("PacGAN-4", dict(trainer="gan", pack=4)),
            ("R1 (gamma 1)", dict(trainer="gan", r1=1.0)), ("MMD", dict(trainer="mmd", lr=1e-3))]
SNAPSHOT_SAMPLES = 1000


def run_one(job):
    """One training run, as a dict: name, seed, steps (T,), shares (T, K), samples (one (n, 2)
    array per step), final (the last metrics record) and seconds."""
    name, opts, seed, args = job
    if args.backend:
        B.set_backend(args.backend)
    cfg = make_config(**{**SETTING, **opts}, steps=args.steps, seed=seed, log_every=args.every)
    modes = get_dataset(cfg["data"]).modes()
    steps, shares, samples = [], [], []

    def keep(trainer, ds, rec):
        x = B.to_numpy(trainer.sample(SNAPSHOT_SAMPLES))
        steps.append(rec["step"])
        shares.append(mode_shares(x, modes))
        samples.append(x)

    t0 = time.perf_counter()
    final = train(cfg, os.path.join(args.out, f"{name.split()[0]}-seed{seed}"), plots=False,
                  progress=False, callback=keep, overwrite=True)
    secs = time.perf_counter() - t0
    print(f"  {name}, seed {seed}: fullest mode {shares[-1].max():.0%}, {final['modes']}/"
          f"{final['n_modes']} modes, {final['high_quality']:.1%} high quality ({secs:.0f} s)", flush=True)
    return dict(name=name, seed=seed, steps=B.host.asarray(steps), shares=B.host.stack(shares),
                samples=samples, final=final, seconds=secs)


def hops(shares, most: float = 0.5) -> int:
    """How often the fullest mode changes between consecutive snapshots while, at both, it
    holds more than ``most`` of the samples: the collapsed lump moving to another mode."""
    top, full = shares.argmax(axis=1), shares.max(axis=1) > most
    return int(((top[1:] != top[:-1]) & full[1:] & full[:-1]).sum())


def share_summary(shares) -> dict:
    """Coverage read off one snapshot's shares (K,), with no quality threshold."""
    return {"fullest": float(shares.max()), "held": int((shares >= 0.5 / len(shares)).sum()),
            "kl": reverse_kl(shares)}


def table(rows) -> str:
    """The markdown table: one line per trainer, means (and the worst seed) over the seeds."""
    lines = ["| trainer | fullest mode | modes held (fewest) | reverse KL of shares | hops | "
             "modes with a 3-std sample | high quality | s per run |", "|---|---|---|---|---|---|---|---|"]
    for name, _ in TRAINERS:
        runs = [r for r in rows if r["name"] == name]
        if not runs:
            continue
        ends = [share_summary(r["shares"][-1]) for r in runs]
        mean = lambda vals: sum(vals) / len(vals)  # noqa: E731
        k = runs[0]["final"]["n_modes"]
        lines.append(
            f"| {name} | {mean([e['fullest'] for e in ends]):.0%} | {mean([e['held'] for e in ends]):.1f}/{k} "
            f"({min(e['held'] for e in ends)}) | {mean([e['kl'] for e in ends]):.2f} | "
            f"{mean([hops(r['shares']) for r in runs]):.1f} | {mean([r['final']['modes'] for r in runs]):.1f}/{k} | "
            f"{mean([r['final']['high_quality'] for r in runs]):.1%} | {mean([r['seconds'] for r in runs]):.0f} |")
    return "\n".join(lines)


def _run(rows, name: str, seed: int) -> dict:
    return next(r for r in rows if r["name"] == name and r["seed"] == seed)


def plot_hopping(rows, seeds, path):
    """Heat maps: a row per trainer, a column per seed; x = step, y = mode, colour = share."""
    plt = pyplot()
    fig, axes = plt.subplots(len(TRAINERS), len(seeds), figsize=(2.3 * len(seeds) + 1, 1.9 * len(TRAINERS)),
                             squeeze=False, sharex=True, sharey=True)
    image = None
    for i, (name, _) in enumerate(TRAINERS):
        for j, seed in enumerate(seeds):
            run = _run(rows, name, seed)
            steps, shares = run["steps"], run["shares"]
            ax = axes[i][j]
            k, last = shares.shape[1], int(steps[-1])
            image = ax.imshow(shares.T, aspect="auto", origin="lower", cmap="magma", vmin=0, vmax=1,
                              extent=(0, last, -0.5, k - 0.5), interpolation="nearest")
            ax.set_yticks(range(k))
            ax.tick_params(labelsize=6)
            if i == 0:
                ax.set_title(f"seed {seed}", fontsize=9)
            if j == 0:
                ax.set_ylabel(f"{name}\nmode", fontsize=8)
            if i == len(TRAINERS) - 1:
                ax.set_xlabel("step", fontsize=8)
    fig.colorbar(image, ax=axes, shrink=0.6, label="share of samples nearest the mode")
    fig.suptitle("which modes hold the generator's mass, step by step (ring of 8)")
    return save_figure(fig, path)


def plot_samples(rows, seed, stages, path):
    """Seed ``seed``'s samples (green) over the ring's modes (red) at ``stages`` evenly spaced steps."""
    plt = pyplot()
    fig, axes = plt.subplots(len(TRAINERS), stages, figsize=(2.2 * stages, 2.3 * len(TRAINERS)), squeeze=False)
    modes = get_dataset(SETTING["data"]).modes()
    for i, (name, _) in enumerate(TRAINERS):
        run = _run(rows, name, seed)
        steps, shares, samples = run["steps"], run["shares"], run["samples"]
        picks = sorted({round(t * (len(steps) - 1) / max(stages - 1, 1)) for t in range(stages)})
        for j, t in enumerate(picks):
            ax = axes[i][j]
            ax.scatter(modes[:, 0], modes[:, 1], marker="x", c="red", s=14, lw=0.8)
            ax.scatter(samples[t][:, 0], samples[t][:, 1], s=1, c="tab:green", alpha=0.4)
            ax.set(xlim=(-1.6, 1.6), ylim=(-1.6, 1.6), xticks=[], yticks=[])
            ax.set_title(f"step {steps[t]}: fullest mode {shares[t].max():.0%}", fontsize=8)
            if j == 0:
                ax.set_ylabel(name, fontsize=9)
    fig.suptitle(f"generated samples (green) and the ring's modes (red), seed {seed}")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return save_figure(fig, path)


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=2500, help="training steps per run (default 2500)")
    ap.add_argument("--every", type=int, default=50, help="steps between snapshots (default 50)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="default 0 1 2 3 4")
    ap.add_argument("--stages", type=int, default=5, help="snapshots drawn in mode_collapse.png (default 5)")
    ap.add_argument("--quick", action="store_true", help="200 steps, seed 0 only: checks that it all runs")
    ap.add_argument("--out", default="runs/demos/mode_collapse", help="default runs/demos/mode_collapse")
    ap.add_argument("--backend", choices=["numpy", "cupy"], help="array backend (default: the current one)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="runs trained side by side (numpy only; default: one per core)")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.every, args.seeds = 200, 50, [0]
    if args.steps < 1 or args.every < 1 or args.stages < 1 or args.jobs < 1:
        ap.error("--steps, --every, --stages and --jobs must be positive")
    return args


def main(argv=None):
    args = parse(argv)
    jobs = [(name, opts, seed, args) for name, opts in TRAINERS for seed in args.seeds]
    workers = 1 if (args.backend or B.backend_name()) == "cupy" else min(args.jobs, len(jobs))
    print(f"training {len(jobs)} runs of {args.steps} steps ({len(TRAINERS)} trainers x "
          f"{len(args.seeds)} seeds), {workers} at a time ...", flush=True)
    t0 = time.perf_counter()
    if workers > 1:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            rows = pool.map(run_one, jobs, chunksize=1)
    else:
        rows = [run_one(job) for job in jobs]
    os.makedirs(args.out, exist_ok=True)
    print("wrote", plot_hopping(rows, args.seeds, os.path.join(args.out, "mode_hopping.png")))
    print("wrote", plot_samples(rows, args.seeds[0], args.stages, os.path.join(args.out, "mode_collapse.png")))
    text = table(rows)
    with atomic_write(os.path.join(args.out, "metrics.md"), "w") as f:
        f.write(f"ring8, {args.steps} steps per run, seeds {' '.join(map(str, args.seeds))}; "
                f"shares from {SNAPSHOT_SAMPLES} samples, the two thresholded columns from 2,500\n\n{text}\n")
    print(text)
    print(f"{time.perf_counter() - t0:.0f} s in all; log 8 = {math.log(8):.2f}")
    return rows


if __name__ == "__main__":
    main()
