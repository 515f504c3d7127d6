"""Where a generator's samples fall off the modes: distance to the nearest mode, in data stds.

    python -m benchmarks.mode_profile RUN/checkpoint.npz [more checkpoints] [-n 20000]     # from the repository root

The high-quality share of ``npgan.evaluation.metrics`` counts samples within 3 std of the nearest mode.
``npgan.evaluation.metrics.off_mode_profile`` splits the rest in two, for a mixture of isotropic
Gaussians: a mode's tails (3-6 std; a perfect generator has 1.1% there in 2-D and scores
98.9% high quality) and the ground between the modes (beyond 6 std: the paths a continuous
generator draws from one mode to the next). It also gives the spread of the near-mode
samples (rms distance per coordinate in data stds: 1.0 when each mode has the data's width).
This script prints it for each checkpoint, on more samples than the 2,500 of the metrics.
"""

import argparse

from npgan import backend as B
from npgan.evaluation.metrics import off_mode_profile
from npgan.gan.runner import from_checkpoint


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("-n", type=int, default=20000, help="samples per checkpoint (default 20000)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    print(f"{'checkpoint':<48}{'high q.':>9}{'3-6 std':>9}{'>6 std':>9}{'spread':>8}")
    for path in args.checkpoints:
        trainer, ds, _ = from_checkpoint(path)
        if not hasattr(ds, "modes"):
            raise SystemExit(f"{path}: {ds.name} has no modes to measure against")
        B.seed(args.seed)
        r = off_mode_profile(trainer.sample(args.n), ds.modes(), ds.std)
        print(f"{str(path)[-48:]:<48}{r['high_quality']:>9.1%}{r['tails']:>9.1%}{r['between']:>9.1%}"
              f"{r['spread']:>8.2f}")


if __name__ == "__main__":
    main()
