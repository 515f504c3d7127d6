"""Where a generator's samples fall off the modes: distance to the nearest mode, in data stds.

    python benchmarks/mode_profile.py RUN/checkpoint.npz [more checkpoints] [-n 20000]

The high-quality share of ``npgan.metrics`` counts samples within 3 std of the nearest mode.
This splits the rest in two, for a 2-D mixture of isotropic Gaussians:

* 3-6 std: the tails of a mode. The data itself puts exp(-9/2) = 1.1% of its mass beyond
  3 std in 2-D, so even a perfect generator scores 98.9% high quality;
* beyond 6 std: samples between the modes (on the "bridges" a continuous generator draws
  from one mode to the next as its noise input crosses from one region to another).

It also prints the spread of the near-mode samples (rms distance per coordinate, in data stds:
1.0 for a generator that has each mode's width right) and distance percentiles.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402,F401  (puts the source checkout on the path)


def profile(samples, modes, std):
    """Shares of samples by distance d to the nearest mode (in stds) and the near-mode spread."""
    import numpy as np
    d = np.sqrt(((samples[:, None, :] - modes[None]) ** 2).sum(-1)).min(1) / std
    near = d < 6
    return {
        "high_quality": float((d < 3).mean()),
        "tails_3_6": float(((d >= 3) & near).mean()),
        "between_6plus": float((~near).mean()),
        "spread": float(np.sqrt((d[near] ** 2).mean() / samples.shape[1])),
        "percentiles": {p: float(v) for p, v in zip((50, 90, 95, 99), np.percentile(d, (50, 90, 95, 99)))},
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("-n", type=int, default=20000, help="samples per checkpoint (default 20000)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    from npgan import backend as B
    from npgan.gan.runner import load_run
    print(f"{'checkpoint':<48}{'high q.':>9}{'3-6 std':>9}{'>6 std':>9}{'spread':>8}  d percentiles 50/90/95/99")
    for path in args.checkpoints:
        trainer, ds, _ = load_run(path)
        if not hasattr(ds, "modes"):
            raise SystemExit(f"{path}: {ds.name} has no modes to measure against")
        B.seed(args.seed)
        r = profile(B.to_numpy(trainer.sample(args.n)), ds.modes(), ds.std)
        pct = "/".join(f"{v:.1f}" for v in r["percentiles"].values())
        print(f"{str(path)[-48:]:<48}{r['high_quality']:>9.1%}{r['tails_3_6']:>9.1%}{r['between_6plus']:>9.1%}"
              f"{r['spread']:>8.2f}  {pct}")


if __name__ == "__main__":
    main()
