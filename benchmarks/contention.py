"""Training speed on a busy machine: iterations alone, then beside one busy process per core.

    python -m benchmarks.contention [--models ring8 grid25 dcgan28] [--seconds 8]     # from the repository root

Students run npgan beside a browser and an IDE. For each model this times training
iterations (the same trainer, recipe and thread policy as ``npgan train``: its
``runtime.ThreadGovernor`` drops to one thread while other processes use the cores) on a
quiet machine, then with one ``while True: pass`` process per core running beside it, and
prints both (with the thread counts each ended on) and their
ratio. A fair share of the cores would make the ratio about 2 with one busy process per
core on a machine whose cores npgan had to itself. Policies, timed in one run: ``npgan`` (what
``npgan train`` does), ``all`` (every core for BLAS, npgan's behaviour before the policy) and
``one`` (one thread throughout).
"""

import argparse
import multiprocessing
import os
import time
from types import SimpleNamespace

from .common import header_line, prepare_process, seeded_backend

CONFIGS = {
    "ring8": dict(data="ring8"),
    "grid25": dict(data="grid25"),
    "dcgan28": dict(data="fashion-mnist"),
}


def _busy():
    while True:
        pass


def iteration(name: str, policy: str):
    """(one training iteration as npgan train runs it, the thread count it runs with)."""
    from npgan.gan.base import TRAINERS
    from npgan.gan.config import make_config
    from npgan.gan.models import build_networks
    from npgan.gan.runner import build
    cfg = make_config(**CONFIGS[name])
    if name == "dcgan28":  # no data set needed to time the networks: random images of the right shape
        B = seeded_backend()
        images = B.uniform((4096, 1, 28, 28), -1, 1)
        ds = SimpleNamespace(shape=(1, 28, 28), sample=lambda n: images[:n])
        G, D = build_networks(cfg, ds)
        trainer = TRAINERS[cfg["trainer"]].from_config(cfg, G, D)
    else:
        trainer, ds = build(cfg)
    rows = trainer.rows_per_step(cfg["batch_size"])
    return (lambda: trainer.train_step(ds.sample(rows))), policy


def seconds_per_iteration(step, policy: str, seconds: float) -> tuple:
    """(seconds per iteration, the thread count it ended on) under a policy: ``npgan`` lets the
    training loop's ``ThreadGovernor`` decide (as ``npgan train`` does), ``all`` and ``one`` fix it."""
    from npgan import runtime
    governor = runtime.ThreadGovernor(interval=1.0) if policy == "npgan" else None
    with runtime.limit_threads({"all": None, "one": 1}.get(policy)), (governor or runtime.ThreadGovernor(interval=1e9)):
        for _ in range(3):
            step()
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds or n < 3:
            step()
            if governor is not None:
                governor.tick()
            n += 1
        used = 1 if policy == "one" or (governor is not None and governor.threads == 1) else os.cpu_count()
        return (time.perf_counter() - t0) / n, used


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--seconds", type=float, default=8.0, help="timed seconds per measurement")
    ap.add_argument("--policy", nargs="+", default=["npgan", "all", "one"], choices=["npgan", "all", "one"])
    args = ap.parse_args(argv)
    cores = os.cpu_count() or 1
    allocator = prepare_process(cores)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NPGAN_NUM_THREADS"):
        os.environ.pop(var, None)  # prepare_process pinned them; the policy decides here
    print("# " + header_line(f"{cores} busy processes beside", allocator=allocator))
    print(f"{'model':<9}{'policy':>8}{'threads':>8}{'quiet ms':>10}{'busy ms':>10}{'ratio':>7}")
    for name in args.models:
        for policy in args.policy:
            step, policy = iteration(name, policy)
            quiet, t_quiet = seconds_per_iteration(step, policy, args.seconds)
            busy = [multiprocessing.Process(target=_busy, daemon=True) for _ in range(cores)]
            for p in busy:
                p.start()
            try:
                loaded, t_busy = seconds_per_iteration(step, policy, args.seconds)
            finally:
                for p in busy:
                    p.terminate()
                    p.join()
            print(f"{name:<9}{policy:>8}{f'{t_quiet}/{t_busy}':>8}{quiet * 1e3:10.2f}{loaded * 1e3:10.2f}"
                  f"{loaded / quiet:7.2f}", flush=True)


if __name__ == "__main__":
    main()
