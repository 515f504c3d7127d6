r"""Data-parallel SGD by hand: every rank computes its shard's gradients, the ranks average them.

**Why averaging is exact.** A GAN's losses are means over the $b$ samples of a minibatch,
$L = \frac1b \sum_{i=1}^{b} \ell_i(\theta)$. Split the minibatch into $R$ equal shards $S_r$ of
$b/R$ rows, one per rank, and let rank $r$ compute the mean over its own shard,
$L_r = \frac{R}{b} \sum_{i \in S_r} \ell_i$. Then

$$
\frac1R \sum_{r=1}^{R} \nabla L_r = \frac1R \sum_r \frac{R}{b} \sum_{i \in S_r} \nabla \ell_i
= \frac1b \sum_{i=1}^{b} \nabla \ell_i = \nabla L ,
$$

so all-reducing (summing) the ranks' gradients and dividing by $R$ gives every rank the
gradient one process would have computed on the whole minibatch, and every rank then applies
the same optimiser update to the same parameters: they stay identical, with no parameter
ever sent. What one process would compute is only equal up to the order of the sums (the
all-reduce adds $R$ partial sums), so runs at different $R$ agree to rounding, which
float64 (`--dtype float64`) makes visible as agreement to about $10^{-12}$.

Two things make that hold for a GAN beyond the loss:

* **The same random draws.** Every rank draws the noise, the labels and the penalty's mixing
  weights for the *whole* minibatch, from the same seeded generator, and keeps its own rows
  (`shard`). The generator's state therefore advances exactly as in one process, whatever
  $R$ is, and a checkpoint (parameters, optimiser moments, the generator's state) is the same
  on every rank and can be resumed at any $R$.
* **BatchNorm.** Its statistics are means over the batch, not over a shard; with
  `synchronise_batchnorm` every BatchNorm sums its statistics over the ranks
  (`npgan.nn.BatchNorm` derives the two all-reduced sums its backward pass needs).

A loss that is not a mean over samples (the MMD trainer's $\mathrm{MMD}^2$ compares every
pair) does not split this way, and the trainer refuses to run on several ranks.

**Cost.** One all-reduce of every gradient per optimiser step, packed into one flat buffer per
network (one message instead of one per parameter); a few scalars per step (the logged
figures and the stop flag); at logging steps a checksum of the parameters, compared across
ranks, which stops the run if they ever differ.
"""

from __future__ import annotations

from . import backend as B
from .nn import BatchNorm

__all__ = ["shard", "average_gradients", "mean_over_ranks", "synchronise_batchnorm", "check_in_step",
           "any_rank", "on_rank_zero", "RankZeroFailed", "RanksOutOfStep"]


class RanksOutOfStep(RuntimeError):
    """The ranks' parameters differ: something broke the data-parallel invariant."""


class RankZeroFailed(RuntimeError):
    """Raised on the other ranks when work that only rank 0 does (the run folder, the metrics)
    failed there; rank 0 raises the original error. ``kind`` is its class name."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"rank 0: {message}")
        self.kind = kind


def shard(a, comm):
    """This rank's rows of ``a``, an array drawn for the whole minibatch: rows
    ``[r b/R, (r+1) b/R)`` for rank r of R (a view; ``a`` itself on one process)."""
    if comm.size == 1:
        return a
    n = a.shape[0] // comm.size
    return a[comm.rank * n:(comm.rank + 1) * n]


def average_gradients(network, comm) -> None:
    r"""Replace the `.grad` of each of `network`'s parameters by its mean over the ranks,
    $\frac1R \sum_r \nabla L_r$: one all-reduce of a flat buffer holding every gradient.
    Nothing on one process. (`network`: a layer, or a list of parameters.)"""
    if comm.size == 1:
        return
    params = network.parameters() if hasattr(network, "parameters") else list(network)
    if not params:
        return
    xp = B.get_backend()
    flat = xp.concatenate([p.grad.reshape(-1) for p in params])
    comm.allreduce(flat)
    flat /= comm.size
    start = 0
    for p in params:
        p.grad[...] = flat[start:start + p.grad.size].reshape(p.grad.shape)
        start += p.grad.size


def mean_over_ranks(stats: dict, comm) -> dict:
    """The step's logged figures (each a mean over this rank's shard) as means over the whole
    minibatch: their average over the ranks, as floats. ``stats`` unchanged on one process."""
    if comm.size == 1:
        return stats
    keys = [k for k in stats if k != "step"]
    sums = comm.allreduce_host([float(stats[k]) for k in keys])
    return {**stats, **{k: s / comm.size for k, s in zip(keys, sums)}}


def synchronise_batchnorm(layer, comm) -> None:
    """Make every BatchNorm in ``layer`` compute its statistics over all ranks' shards."""
    stack = [layer]
    while stack:
        node = stack.pop()
        if isinstance(node, BatchNorm):
            node.comm = None if comm.size == 1 else comm
        stack.extend(node.children())


def _checksum(params) -> tuple:
    xp = B.get_backend()
    total = sum(float(xp.sum(p.data, dtype=xp.float64)) for p in params)
    squares = sum(float(xp.vdot(p.data.ravel(), p.data.ravel())) for p in params)
    return total, squares


def check_in_step(params, comm) -> None:
    """Compare a checksum of the parameters across the ranks (a logging step's check of the
    invariant); ``RanksOutOfStep`` on every rank if any differs."""
    if comm.size == 1:
        return
    sums = comm.allgather(_checksum(params))
    if any(s != sums[0] for s in sums[1:]):
        raise RanksOutOfStep(f"the ranks' parameters differ (checksums {sums}): the data-parallel "
                             f"run cannot continue")


def any_rank(flag: bool, comm) -> bool:
    """True on every rank if ``flag`` is true on any (an interrupt seen by one rank stops all at
    the same step)."""
    if comm.size == 1:
        return bool(flag)
    return comm.allreduce_host([1.0 if flag else 0.0])[0] > 0


def on_rank_zero(comm, fn, *args):
    """Run ``fn(*args)`` on rank 0 only and return its result there (None elsewhere); if it
    raised, every rank raises: rank 0 the original error, the others ``RankZeroFailed``.
    For what only rank 0 does (the run folder, metrics, checkpoints, plots), so that a failure
    there stops every rank at the same point instead of leaving them waiting."""
    if comm.size == 1:
        return fn(*args)
    result, failure = None, None
    if comm.rank == 0:
        try:
            result = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - shared with the other ranks, then re-raised
            failure = exc
    outcome = comm.bcast(None if failure is None else (type(failure).__name__, str(failure)))
    if failure is not None:
        raise failure
    if outcome is not None:
        raise RankZeroFailed(*outcome)
    return result
