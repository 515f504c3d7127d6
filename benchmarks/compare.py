"""Before against after: the same training iteration timed in two source trees, in one run.

    git worktree add /tmp/before <commit>                       # the code to compare against
    python -m benchmarks.compare /tmp/before [--after .] [--models dcgan28] [--batches 64 256]
    python -m benchmarks.compare . --after-env OPENBLAS_CORETYPE=Haswell   # a setting, one tree

(from the repository root). Each tree runs in a worker process of its own, started in that
tree, with the tree's own ``npgan`` and ``benchmarks`` (its ``benchmarks.iteration``, its models
and its trainer), set up as ``benchmarks.common.prepare_process`` does. The workers take turns: a block
of iterations in one (its first call untimed), then a block in the other, ``--rounds`` times,
so that a drift in the machine's speed reaches both sides. A wall-clock comparison of two runs
made one after the other cannot resolve a few percent on a shared machine; this one can.

Columns: the median and the 10th percentile of every timed iteration of each tree, and their
ratios after / before (below 1: the change made it faster). The header names both trees'
commits (``+changes`` when a tree has uncommitted changes) and the environment variables
given to each side (``--before-env``, ``--after-env``: ``VAR=VALUE``, set in that side's worker
before it loads NumPy, so they reach what reads its environment once, like OpenBLAS).

Both trees need ``benchmarks/iteration.py`` with ``npgan_trainer`` (any npgan from the
package layout of ``python -m benchmarks.iteration`` on).
"""

import argparse
import inspect
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time


def worker(model: str, batch: int, threads: int) -> None:
    """Build the tree's trainer, then answer each line "K" with the K iteration times (JSON)."""
    from benchmarks.common import prepare_process
    prepare_process(threads)
    from benchmarks.iteration import npgan_trainer
    trainer, real = npgan_trainer(model, batch, "numpy")
    for _ in range(2):  # warm-up: the allocator's pools, OpenBLAS's threads
        trainer.train_step(real)
    import npgan
    print("ready", npgan.__file__, flush=True)  # which npgan this worker times
    for line in sys.stdin:
        trainer.train_step(real)  # untimed: the first call after the other tree's block
        times = []
        for _ in range(int(line)):
            t0 = time.perf_counter()
            trainer.train_step(real)
            times.append(time.perf_counter() - t0)
        print(json.dumps(times), flush=True)


def revision(tree: pathlib.Path) -> str:
    """The tree's commit, short, with ``+changes`` when it has uncommitted changes."""
    def git(*args):
        return subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True).stdout.strip()
    rev = git("rev-parse", "--short", "HEAD") or "not a git tree"
    return rev + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


# a worker runs `worker` as `python -c` in its tree, whose `npgan` and `benchmarks` are then
# the first on its path (the directory `-c` starts in), ahead of any installed npgan
WORKER = f"import json, sys, time\n\n{inspect.getsource(worker)}\nworker(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))\n"


def environment(specs) -> dict:
    """``["VAR=VALUE", ...]`` as a dict; one clear line for a spec without a name or ``=``."""
    env = {}
    for spec in specs or ():
        name, eq, value = spec.partition("=")
        if not eq or not name.strip() or any(c.isspace() for c in name):
            raise SystemExit(f"compare: expected VAR=VALUE for an environment variable, got {spec!r}")
        env[name] = value
    return env


def start(tree: pathlib.Path, model: str, batch: int, threads: int, env: dict | None = None) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", WORKER, model, str(batch), str(threads)],
                            cwd=tree, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    word, _, npgan_file = proc.stdout.readline().strip().partition(" ")
    if word != "ready":
        proc.kill()
        raise SystemExit(f"compare: the worker in {tree} did not start (does it have "
                         f"benchmarks/iteration.py with npgan_trainer?)")
    if not pathlib.Path(npgan_file).resolve().is_relative_to(tree):
        proc.kill()
        raise SystemExit(f"compare: the worker in {tree} imported another npgan ({npgan_file})")
    return proc


def block_size(model: str, batch: int) -> int:
    """Iterations a block: about a second of work, at least 2."""
    per_sample_ms = {"toy2d": 0.005, "mlp784": 0.1, "dcgan28": 1.5}.get(model, 1.5)
    return max(2, int(1000 / (per_sample_ms * batch)))


def compare(before: pathlib.Path, after: pathlib.Path, model: str, batch: int, threads: int,
            rounds: int, block: int | None, envs: dict | None = None) -> dict:
    """{"before": [seconds...], "after": [seconds...]} of one model and batch size; ``envs``
    maps "before" and "after" to the environment variables set in that side's worker."""
    k = block or block_size(model, batch)
    envs = envs or {}
    procs = {"before": start(before, model, batch, threads, envs.get("before")),
             "after": start(after, model, batch, threads, envs.get("after"))}
    times = {name: [] for name in procs}
    try:
        for _ in range(rounds):
            for name, proc in procs.items():
                proc.stdin.write(f"{k}\n")
                proc.stdin.flush()
                times[name] += json.loads(proc.stdout.readline())
    finally:
        for proc in procs.values():
            proc.stdin.close()
            proc.wait()
    return times


def percentile10(values) -> float:
    return sorted(values)[len(values) // 10]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("before", type=pathlib.Path, help="the source tree to compare against")
    ap.add_argument("--after", type=pathlib.Path, default=pathlib.Path("."), help="default: this tree")
    ap.add_argument("--models", nargs="+", default=["dcgan28"], choices=["toy2d", "mlp784", "dcgan28"])
    ap.add_argument("--batches", type=int, nargs="+", default=[64])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=8, help="blocks of iterations for each tree")
    ap.add_argument("--block", type=int, help="iterations a block (default: about a second's worth)")
    ap.add_argument("--before-env", nargs="+", metavar="VAR=VALUE", help="set in the before worker")
    ap.add_argument("--after-env", nargs="+", metavar="VAR=VALUE", help="set in the after worker")
    args = ap.parse_args(argv)
    envs = {"before": environment(args.before_env), "after": environment(args.after_env)}
    before, after = args.before.resolve(), args.after.resolve()
    for tree in (before, after):
        if not (tree / "npgan").is_dir() or not (tree / "benchmarks" / "iteration.py").is_file():
            raise SystemExit(f"compare: {tree} is not an npgan source tree with benchmarks/iteration.py")
    from .common import header_line, prepare_process
    prepare_process(args.threads)  # the header reads NumPy's version; the workers set up their own
    sides = {name: f"{name} {revision(tree)} ({tree})" + "".join(f" {k}={v}" for k, v in envs[name].items())
             for name, tree in (("before", before), ("after", after))}
    print("# " + header_line(sides["before"], sides["after"], "float32", threads=args.threads))
    print(f"{'model':<9}{'batch':>6}{'before ms':>11}{'after ms':>10}{'after/before':>14}"
          f"{'before p10':>12}{'after p10':>11}{'p10 ratio':>11}")
    for model in args.models:
        for batch in args.batches:
            t = compare(before, after, model, batch, args.threads, args.rounds, args.block, envs)
            med = {name: statistics.median(v) * 1e3 for name, v in t.items()}
            low = {name: percentile10(v) * 1e3 for name, v in t.items()}
            print(f"{model:<9}{batch:>6}{med['before']:11.2f}{med['after']:10.2f}{med['after'] / med['before']:14.3f}"
                  f"{low['before']:12.2f}{low['after']:11.2f}{low['after'] / low['before']:11.3f}", flush=True)


if __name__ == "__main__":
    main()
