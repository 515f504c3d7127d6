"""Mode coverage over 5 seeds with each trainer's default settings.

    python -m benchmarks.quality [--seeds 0 1 2 3 4] [--data ring8 grid25] [--trainers gan mmd]

(from the repository root, where ``python -m`` finds ``benchmarks`` and ``npgan``).

For each (data set, trainer, seed) it runs exactly what `npgan train --data D --trainer T
--seed S` runs, then scores 2,500 samples: modes captured, high-quality fraction and
reverse KL (npgan.evaluation.metrics). Writes one JSON line per run to --out/runs.jsonl and a
markdown table of the means to --out/QUALITY.md (or --table): the curated record in
benchmarks/QUALITY.md, with its per-seed runs and rejected settings, is only written
when named with --table. ``--steps`` shortens every run (a quick check of the script;
the recorded figures hold for the defaults only).
"""

import argparse
import json
import os
import statistics
import time

from .common import header_line, prepare_process


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--data", nargs="+", default=["ring8", "grid25"])
    ap.add_argument("--trainers", nargs="+", default=["gan", "mmd"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="runs/quality")
    ap.add_argument("--table", help="where to write the table (default: OUT/QUALITY.md)")
    ap.add_argument("--steps", type=int, help="override every run's step count (default: each recipe's)")
    args = ap.parse_args(argv)
    allocator = prepare_process(args.threads)
    from npgan.gan.config import make_config
    from npgan.gan.runner import train
    from npgan.io import atomic_write

    os.makedirs(args.out, exist_ok=True)
    rows = []
    for data in args.data:
        for trainer in args.trainers:
            results = []
            for seed in args.seeds:
                cfg = make_config(data=data, trainer=trainer, seed=seed, steps=args.steps)
                t0 = time.perf_counter()
                final = train(cfg, os.path.join(args.out, f"{data}-{trainer}-{seed}"),
                              progress=False, plots=False)
                final["seconds"] = time.perf_counter() - t0
                final.update(data=data, trainer=trainer, seed=seed)
                results.append(final)
                with open(os.path.join(args.out, "runs.jsonl"), "a") as f:
                    f.write(json.dumps(final) + "\n")
                print(f"{data:7} {trainer:4} seed {seed}: {final['modes']}/{final['n_modes']} modes, "
                      f"{final['high_quality']:.1%} high quality, reverse KL {final['reverse_kl']:.4f}, "
                      f"{final['seconds']:.0f} s", flush=True)
            mean = lambda k: statistics.fmean(r[k] for r in results)  # noqa: E731
            rows.append((data, trainer, mean("modes"), results[0]["n_modes"], mean("high_quality"),
                         mean("reverse_kl"), mean("seconds"), min(r["modes"] for r in results)))
    lines = [
        "# Mode coverage: mean over seeds " + " ".join(map(str, args.seeds)),
        "",
        f"Machine: {header_line(f'{args.threads} thread(s) per run', allocator=allocator)}.",
        "",
        "Command: `python -m benchmarks.quality --seeds " + " ".join(map(str, args.seeds))
        + " --data " + " ".join(args.data) + " --trainers " + " ".join(args.trainers) + "`",
        "",
        "2,500 samples per run; a sample is high quality within 3 std of its nearest mode; a mode is",
        "captured when at least one high-quality sample is nearest to it (VEEGAN / PacGAN definitions).",
        "",
        "| data | trainer | modes (mean) | fewest | high quality (mean) | reverse KL (mean) | s per run |",
        "|---|---|---|---|---|---|---|",
    ]
    for data, trainer, modes, k, hq, rkl, secs, fewest in rows:
        lines.append(f"| {data} | {trainer} | {modes:.1f}/{k} | {fewest} | {hq:.1%} | {rkl:.4f} | {secs:.0f} |")
    with atomic_write(args.table or os.path.join(args.out, "QUALITY.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
