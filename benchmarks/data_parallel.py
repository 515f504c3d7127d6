"""Data-parallel training steps: time per step and the share spent communicating, at N processes.

    python -m benchmarks.data_parallel [--ranks 1 2] [--models ring8 dcgan28] [--steps 20]
                                       [--threads 1] [--json PATH]    # from the repository root

For each N it starts ``mpiexec -n N python -m benchmarks.data_parallel --worker ...``: every
rank builds the model of ``npgan train`` (seeded), joins the ranks (``npgan.parallel``: sharded
draws, gradients all-reduced in one flat buffer per network, synchronised BatchNorm) and
times ``--steps`` training steps after two of warm-up, at the recipe's global batch. The
communicator is wrapped to add up the wall time spent inside its collectives. Columns:

* ms/step: the median over ranks of the mean step time;
* comm ms: of which inside all-reduces (the gradients, the logged figures, the stop flag);
* share: comm / step;
* MB/step: bytes all-reduced per step (every gradient of D for each of the k D steps and of G,
  float32), from the parameter counts.

``--predict`` adds the cost model's predictions (``predict``) for the measured models: a ring
all-reduce on 8 GPUs and on 64 CPU nodes, from the one-process step time measured here.

With ``--threads 1`` each rank uses one core: on a 2-core machine N = 2 fills it, and N > 2
oversubscribes it (said in the header).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

from .common import header_line, machine_line, prepare_process

MODELS = ("ring8", "dcgan28")


class TimedComm:
    """A communicator whose collectives add their wall time to ``seconds``."""

    def __init__(self, inner):
        self.inner, self.seconds = inner, 0.0
        self.rank, self.size = inner.rank, inner.size

    def _timed(self, name, *args):
        t0 = time.perf_counter()
        out = getattr(self.inner, name)(*args)
        self.seconds += time.perf_counter() - t0
        return out

    def allreduce(self, a):
        return self._timed("allreduce", a)

    def allreduce_host(self, values):
        return self._timed("allreduce_host", values)

    def allgather(self, obj):
        return self._timed("allgather", obj)

    def bcast(self, obj):
        return self._timed("bcast", obj)

    def abort(self, code=1):
        self.inner.abort(code)


def worker(model: str, steps: int) -> None:
    """One rank: time ``steps`` training steps of ``model``; rank 0 prints a JSON line."""
    from npgan import backend as B
    from npgan import comm
    from npgan.gan.runner import join_ranks
    ranks = TimedComm(comm.from_environment())
    trainer, real, cfg = _model(model)
    join_ranks(trainer, ranks, cfg)
    for _ in range(2):
        trainer.train_step(real)
    B.synchronize()
    ranks.seconds, t0 = 0.0, time.perf_counter()
    for _ in range(steps):
        trainer.train_step(real)
    B.synchronize()
    wall = (time.perf_counter() - t0) / steps
    g_params = sum(p.data.size for p in trainer.generator.parameters())
    d_params = sum(p.data.size for p in trainer.discriminator.parameters())
    moved = 4 * (trainer.d_steps * d_params + g_params)  # float32 gradients, one all-reduce per update
    results = ranks.inner.allgather((wall, ranks.seconds / steps))
    if ranks.rank == 0:
        print(json.dumps({"model": model, "ranks": ranks.size, "batch": cfg["batch_size"], "d_steps": trainer.d_steps,
                          "ms": 1e3 * statistics.median(r[0] for r in results),
                          "comm_ms": 1e3 * statistics.median(r[1] for r in results),
                          "mb": moved / 1e6, "params": g_params + d_params}))


def _model(model: str):
    """(trainer, the whole real batch of one step, config) as ``npgan train`` builds them; the
    DCGAN on random images of Fashion-MNIST's shape (the networks' cost, not the data's)."""
    from npgan import backend as B
    from npgan.gan.config import make_config
    from npgan.gan.runner import build
    if model == "ring8":
        cfg = make_config(data="ring8")
        trainer, ds = build(cfg)
        return trainer, ds.sample(trainer.rows_per_step(cfg["batch_size"])), cfg
    from npgan.gan import GANTrainer, dcgan28_discriminator, dcgan28_generator
    B.seed(0)
    cfg = {"trainer": "gan", "batch_size": 64, "pack": 1}
    trainer = GANTrainer(dcgan28_generator(100), dcgan28_discriminator(), 100, lr=2e-4)
    return trainer, B.uniform((64, 1, 28, 28), -1, 1), cfg


# (name, ranks, bandwidth in GB/s per link, latency per message in microseconds)
LINKS = [("8 GPUs, NVLink", 8, 150.0, 10.0), ("8 GPUs, PCIe 4", 8, 20.0, 10.0),
         ("8 CPU nodes, 10 Gb Ethernet", 8, 1.25, 50.0), ("64 CPU nodes, 10 Gb Ethernet", 64, 1.25, 50.0),
         ("64 CPU nodes, 100 Gb InfiniBand", 64, 12.5, 2.0)]


def allreduce_ms(megabytes: float, ranks: int, gb_per_s: float, latency_us: float, messages: int) -> float:
    r"""A ring all-reduce of S bytes over R ranks: each rank sends and receives $2 (R-1)/R \cdot S$
    bytes in $2 (R-1)$ steps, so $t = 2\frac{R-1}{R} \frac{S}{\beta} + 2 (R-1)\,\alpha$ per
    all-reduce, for `messages` all-reduces (one per network update) sharing the bytes."""
    return (2 * (ranks - 1) / ranks * megabytes * 1e6 / (gb_per_s * 1e9) * 1e3
            + messages * 2 * (ranks - 1) * latency_us * 1e-3)


def predict(row: dict) -> list:
    """Predicted step times at each of ``LINKS``: the same global batch split R ways (strong
    scaling: compute / R) and R times the batch (weak scaling: compute as measured), plus the
    ring all-reduces of the gradients; (name, comm ms, strong speed-up, weak efficiency). The
    compute time is the CPU step measured here, so the speed-ups are for CPU nodes only; for
    GPUs only the communication time is predicted (None for the rest)."""
    out = []
    for name, ranks, bandwidth, latency in LINKS:
        comm = allreduce_ms(row["mb"], ranks, bandwidth, latency, messages=row["d_steps"] + 1)
        if "GPU" in name:
            out.append((name, comm, None, None))
        else:
            out.append((name, comm, row["ms"] / (row["ms"] / ranks + comm), row["ms"] / (row["ms"] + comm)))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", help="also write the rows here")
    ap.add_argument("--predict", action="store_true", help="add the cost model's predictions")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    allocator = prepare_process(args.threads)
    if args.worker:
        return worker(args.worker, args.steps)
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    if mpiexec is None:
        sys.exit("data_parallel: needs mpiexec and mpi4py: pip install -e '.[mpi]'")
    cores = os.cpu_count() or 1
    print("# " + header_line(f"{max(args.ranks)} rank(s) at most on {cores} cores"
                             + (" (oversubscribed)" if max(args.ranks) * args.threads > cores else ""),
                             "MPICH over shared memory", threads=args.threads, allocator=allocator))
    print(f"{'model':<9}{'batch':>6}{'ranks':>6}{'ms/step':>10}{'comm ms':>10}{'share':>8}{'MB/step':>9}")
    rows = []
    for model in args.models:
        for n in args.ranks:
            out = subprocess.run([mpiexec, "-n", str(n), sys.executable, "-m", "benchmarks.data_parallel",
                                  "--worker", model, "--steps", str(args.steps), "--threads", str(args.threads)],
                                 capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{model:<9}{row['batch']:>6}{n:>6}{row['ms']:10.2f}{row['comm_ms']:10.2f}"
                  f"{row['comm_ms'] / row['ms']:8.1%}{row['mb']:9.2f}", flush=True)
    if args.predict:
        print(f"\n# predicted from the one-process rows: {'link':<32}{'comm ms':>9}{'strong':>8}{'weak':>7}")
        for row in (r for r in rows if r["ranks"] == 1):
            for name, comm, strong, weak in predict(row):
                scaling = f"{strong:7.1f}x{weak:7.0%}" if strong else f"{'-':>8}{'-':>7}"
                print(f"{row['model']:<9}{row['ms']:9.1f} ms  {name:<32}{comm:9.2f}{scaling}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine_line(), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
