"""A training run behind ``npgan train``: build it from a config, train it into a folder, resume it,
open it again to sample, evaluate or redraw its plots.

The folder itself, what it holds and what it guarantees, is ``npgan.gan.rundir.RunDir``.

Evaluation draws its own samples with the random state saved and restored around
it, so how often a run logs does not change its training trajectory, and an
interrupted run resumed from its checkpoint ends exactly where an uninterrupted
one does (same seed, same backend, same thread count).
"""

from __future__ import annotations

import contextlib
import os
import sys

from .. import backend as B
from ..comm import SingleProcess
from ..data import get_dataset
from ..evaluation import plot
from ..nn import Layer
from ..parallel import any_rank, check_in_step, on_rank_zero, synchronise_batchnorm
from ..training import fit, stop_requests
from .base import TRAINERS
from .config import make_config
from .evaluators import make_evaluator
from .models import build_networks
from .rundir import RunDir, RunDirError, RunInterrupted, TrainingDiverged, check_finite, new_identity

__all__ = ["build", "from_checkpoint", "open_run", "resume_config", "train", "draw_final_plots",
           "RunDirError", "RunInterrupted", "TrainingDiverged"]

# what ``--resume`` may change; every other option is the run's (its data's content is checked
# by the data fingerprint, so the folder holding it may move)
MAY_CHANGE_ON_RESUME = ("steps", "log_every", "data_dir")


def build(cfg: dict):
    """(trainer, dataset) for a config; networks initialised from the config's seed, in its dtype."""
    B.set_dtype(cfg["dtype"])
    B.seed(cfg["seed"])
    ds = get_dataset(cfg["data"], cfg["data_dir"])  # the folder matters for image sets only
    cls = TRAINERS[cfg["trainer"]]
    G, D = build_networks(cfg, ds, discriminator=cls.uses_discriminator)
    return cls.from_config({**cfg, "num_classes": ds.num_classes if cfg["conditional"] else 0}, G, D), ds


def _complete(cfg: dict) -> dict:
    return make_config(**cfg)


def open_run(path, data_dir=None):
    """(trainer, dataset, config, run folder, checkpoint) of the run in a folder or checkpoint
    file, checked (``RunDir.read_checkpoint``) and on the data it was trained on; ``data_dir``
    points an image run at its files where they have moved."""
    rd = RunDir.of(path)
    ckpt = rd.read_checkpoint(_complete)
    cfg = make_config(**{**ckpt.config, "data_dir": data_dir}) if data_dir else ckpt.config
    trainer, ds = build(cfg)
    ckpt.check_data(ds)
    trainer.restore(ckpt.state, ckpt.path)
    return trainer, ds, cfg, rd, ckpt


def from_checkpoint(checkpoint, data_dir=None):
    """(trainer, dataset, config) restored from a checkpoint written by ``train``, checked."""
    trainer, ds, cfg, _, _ = open_run(checkpoint, data_dir)
    return trainer, ds, cfg


def resume_config(folder, changes: dict) -> dict:
    """The config of the run in ``folder`` with ``changes`` (options given, None meaning not
    given) applied: only ``MAY_CHANGE_ON_RESUME`` may change, and the run must have steps left."""
    rd = RunDir(folder)
    ckpt = rd.read_checkpoint(_complete)
    cfg = ckpt.config
    given = {k: v for k, v in changes.items() if v is not None}
    if "data_dir" in given:
        given["data_dir"] = os.path.abspath(given["data_dir"])
    changed = sorted(k for k, v in given.items() if k not in MAY_CHANGE_ON_RESUME and v != cfg.get(k))
    if changed:
        flags = ", ".join("--" + k.replace("_", "-") for k in changed)
        raise ValueError(f"--resume continues the run as it was configured; {flags} would change it "
                         f"(start a new run with --out instead); only --steps, --log-every and --data-dir may change")
    steps = given.get("steps")
    if steps is not None and steps <= ckpt.step:
        raise ValueError(f"the run in {folder} is already at step {ckpt.step}; --steps must be larger to continue it")
    if steps is None and ckpt.step >= cfg["steps"]:
        missing = [p for p in ("samples.png", "losses.png") if not os.path.exists(rd.output(p))]
        redraw = f"; its plots are missing: npgan plot {folder} draws them" if missing else ""
        raise ValueError(f"the run in {folder} is complete ({ckpt.step} steps); --steps N continues it to N{redraw}")
    return make_config(**{**cfg, **{k: v for k, v in given.items() if k in MAY_CHANGE_ON_RESUME}})


def train(cfg: dict, out_dir, resume: bool = False, progress: bool = True, plots: bool = True,
          until: int | None = None, callback=None, log=print, overwrite: bool = False,
          governor=None, comm=None) -> dict:
    """Train per ``cfg`` into ``out_dir`` (or continue the run there); return the last metrics.

    ``until`` stops after that step as an interruption would (the schedule still runs to
    ``cfg["steps"]``); pair it with ``log_every`` dividing it so the checkpoint is current.
    ``callback(trainer, dataset, record)``, if given, runs at every logging step (with the
    random state preserved), e.g. to keep samples for a figure. A folder holding a run is
    refused unless ``resume`` or ``overwrite``; see ``npgan.gan.rundir`` for the rest of
    what a run folder guarantees. ``governor``, a ``npgan.runtime.ThreadGovernor``, is ticked
    every step (the command line passes one: process tuning is its choice, not the library's).
    ``comm`` (``npgan.comm``): the ranks of a data-parallel run (``npgan.parallel``), every
    rank calling ``train`` alike; rank 0 owns the folder (lock, checkpoints, log, metrics,
    plots, progress) and returns the metrics, the others return {}.
    Raises ``TrainingDiverged`` or ``RunInterrupted`` (on every rank).
    """
    comm = comm or SingleProcess()
    lead = comm.rank == 0
    progress, plots = progress and lead, plots and lead
    if plots:
        plot.pyplot()  # missing or broken matplotlib: said now, not after the training
    trainer, ds = build(cfg)  # before the folder is touched: bad data or options write nothing
    join_ranks(trainer, comm, cfg)
    rd = RunDir(out_dir)
    if resume:  # another run's data: said before anything else
        rd.read_checkpoint(_complete).check_data(ds)
    # a bad classifier file: said before training
    evaluator = on_rank_zero(comm, make_evaluator, cfg, ds, out_dir, log)
    with rd if lead else contextlib.nullcontext():
        identity, records = _open(cfg, trainer, ds, rd, resume, overwrite, log, comm)
        _run(cfg, trainer, ds, rd, identity, evaluator, records, progress, until, callback, governor)
        if plots and records:
            with stop_requests():  # a signal now waits for the plots; a second Ctrl-C does not
                try:
                    draw_final_plots(cfg, trainer, evaluator, rd, records)
                except KeyboardInterrupt:
                    raise RunInterrupted(trainer.step, "SIGINT", rd.path,
                                         f"interrupted while drawing the final plots; the training is saved: "
                                         f"npgan plot {rd.path} draws them") from None
    return evaluator.summary(records[-1]) if lead and records else {}


def join_ranks(trainer, comm, cfg: dict) -> None:
    """Make ``trainer`` one of the ranks of ``comm``: its draws sharded, its gradients averaged,
    its BatchNorms synchronised (``npgan.parallel``). Nothing on one process; a clear error for
    a run that cannot be split."""
    if comm.size == 1:
        return
    if not trainer.data_parallel:
        raise ValueError(f"the {cfg['trainer']} trainer does not run on several processes: its loss is "
                         f"not a mean over samples")
    minibatch = cfg["batch_size"]
    if minibatch % (comm.size * cfg.get("pack", 1)):
        raise ValueError(f"--batch-size {minibatch} must split into {comm.size} equal shards (one per "
                         f"process) whose size is a multiple of --pack {cfg.get('pack', 1)}")
    trainer.comm = comm
    for _, part in trainer._parts():
        if isinstance(part, Layer):
            synchronise_batchnorm(part, comm)


def _open(cfg, trainer, ds, rd, resume, overwrite, log, comm):
    """(identity, records) of the run: the folder prepared (by rank 0), the checkpoint restored."""
    on_rank_zero(comm, rd.prepare, resume, overwrite, log)
    if not resume:
        return new_identity(cfg, ds), []
    ckpt = rd.read_checkpoint(_complete)  # again under the lock: the file the run continues from
    ckpt.check_data(ds)
    trainer.restore(ckpt.state, ckpt.path)
    identity = ckpt.identity or new_identity(cfg, ds)  # a checkpoint from before runs had one
    if comm.rank != 0:
        return identity, []

    def records():
        out = [{**r, "run": identity["id"]} for r in
               rd.read_records(trainer.step, ckpt.identity and identity["id"], warn=log)]
        rd.start_log(out)
        return out

    return identity, on_rank_zero(comm, records)


def draw_final_plots(cfg: dict, trainer, evaluator, rd: RunDir, records: list) -> list:
    """The run's final outputs, from its trainer and its log: samples, losses and, per kind
    of data, the latent map or the grids' animation (``npgan plot DIR`` redraws them)."""
    paths = evaluator.final_plots(trainer, records)
    loss = getattr(trainer, "loss", None)
    paths.append(plot.plot_losses(records, rd.output("losses.png"),
                                  title=f"{cfg['trainer']} ({loss.name} loss) on {cfg['data']}" if loss
                                  else f"{cfg['trainer']} on {cfg['data']}",
                                  equilibrium=loss.equilibrium() if loss else None))
    return paths


def _step_function(trainer, ds, rows):
    """One training step on a fresh real batch (with its labels for a conditional trainer)."""
    comm = trainer.comm

    def step_fn(_):
        try:
            if trainer.num_classes:
                x, y = ds.sample_labeled(rows)
                return trainer.train_step(x, labels=y)
            return trainer.train_step(ds.sample(rows))
        except Exception as exc:
            if comm.size > 1:  # this rank alone: end the job rather than leave the others waiting
                print(f"npgan: error on rank {comm.rank}: {type(exc).__name__}: {exc}", file=sys.__stderr__, flush=True)
                comm.abort(1)
            raise

    return step_fn


def _run(cfg, trainer, ds, rd, identity, evaluator, records, progress, until, callback, governor) -> None:
    """The loop: train, and at each logging step check, measure, checkpoint and log."""
    rows = trainer.rows_per_step(cfg["batch_size"])
    every, since = cfg["log_every"], [trainer.step]  # the step the current interval's averages start at

    comm = trainer.comm
    step_fn = _step_function(trainer, ds, rows)

    def on_log(step, record):
        check_in_step([p for _, part in trainer._parts() if isinstance(part, Layer) for p in part.parameters()],
                      comm)
        return on_rank_zero(comm, log_step, step, record)

    def log_step(step, record):
        record = {"step": step, **record, **evaluator(trainer)}
        if step - since[0] < step - (step - 1) // every * every:  # resumed mid-interval
            record["averaged_over"] = step - since[0]
        since[0] = step
        if callback is not None:
            with B.preserved_rng():
                callback(trainer, ds, record)
        check_finite(record, step)  # before anything is written
        rd.write_checkpoint(trainer, cfg, identity)  # checks the parameters too
        record["run"] = identity["id"]
        rd.append(record)
        records.append(record)
        return evaluator.postfix(record)

    stopped = [False]
    with stop_requests() as request, governor or contextlib.nullcontext():
        def should_stop():
            if governor is not None:
                governor.tick()  # one thread while the machine is busy
            stopped[0] = any_rank(bool(request), comm)  # every rank stops at the same step
            return stopped[0]

        fit(step_fn, trainer.optimizers(), lr=cfg["lr"],
            decay=cfg["lr_decay"], total=cfg["steps"], start=trainer.step, stop=until,
            log_every=every, on_log=on_log, should_stop=should_stop,
            progress=f"{cfg['trainer']} on {cfg['data']}" if progress else None)
    if stopped[0]:
        on_rank_zero(comm, rd.write_checkpoint, trainer, cfg, identity)  # a diverged state raises: the good one stays
        raise RunInterrupted(trainer.step, request.signal or "SIGINT", rd.path)
