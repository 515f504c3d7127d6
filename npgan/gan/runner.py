"""A training run behind ``npgan train``: build it from a config, train it into a folder, resume it.

A run directory holds:

* ``checkpoint.npz``: the whole training state (both networks, both optimisers,
  step, random state) and the run's config, rewritten atomically at every
  logging step and at the end; ``--resume`` continues from it;
* ``metrics.jsonl``: one JSON object per logging step (the step's figures averaged
  over the logging interval, plus what the evaluator measures);
* ``samples.png`` and ``losses.png``; for images also ``grids/step_NNNNNN.png``,
  an 8x8 grid of samples from one fixed batch of noise at every logging step.

Evaluation draws its own samples with the random state saved and restored around
it, so how often a run logs does not change its training trajectory, and an
interrupted run resumed from its checkpoint ends exactly where an uninterrupted
one does (same seed, same backend).
"""

from __future__ import annotations

import glob
import os

from .. import backend as B
from ..data import get_dataset
from ..evaluation.evaluators import make_evaluator
from ..io import load_npz
from ..training import fit, stop_requests
from .base import TRAINERS, config_of
from .config import make_config
from .models import build_networks
from .rundir import RunDir, RunDirError


def build(cfg: dict):
    """(trainer, dataset) for a config; networks initialised from the config's seed."""
    B.seed(cfg["seed"])
    ds = get_dataset(cfg["data"], cfg["data_dir"])  # the folder matters for image sets only
    cls = TRAINERS[cfg["trainer"]]
    G, D = build_networks(cfg, ds, discriminator=cls.uses_discriminator)
    return cls.from_config({**cfg, "num_classes": ds.num_classes if cfg["conditional"] else 0}, G, D), ds


def from_checkpoint(checkpoint):
    """(trainer, dataset, config) restored from a checkpoint written by ``train``."""
    state = load_npz(checkpoint)  # read once: config and training state
    cfg = config_of(state, checkpoint)
    trainer, ds = build(make_config(**cfg))
    trainer.restore(state, checkpoint)
    return trainer, ds, cfg


class TrainingDiverged(RuntimeError):
    """A non-finite loss or parameter: the run stops, its last good checkpoint is kept."""


class RunInterrupted(Exception):
    """A signal stopped the run between two steps; a checkpoint of that step was written."""

    def __init__(self, step: int, signal_name: str, checkpoint: str):
        super().__init__(f"interrupted by {signal_name} at step {step}; checkpoint written: "
                         f"continue with npgan train --resume {os.path.dirname(checkpoint) or '.'}")
        self.step, self.signal_name, self.checkpoint = step, signal_name, checkpoint


OUTPUTS = ("checkpoint.npz", "metrics.jsonl", "samples.png", "losses.png", "latent_map.png")


def _check_finite(trainer, record: dict, step: int) -> None:
    """Raise ``TrainingDiverged`` naming the first non-finite figure or parameter."""
    import math
    for key, value in record.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise TrainingDiverged(f"training diverged: at step {step} {key} is {value}")
    xp = B.get_backend()
    for prefix, part in trainer._parts():
        for name, p in getattr(part, "named_parameters", lambda: [])():
            if not bool(xp.isfinite(p.data).all()):
                raise TrainingDiverged(f"training diverged: at step {step} parameter {prefix}.{name} "
                                       f"has non-finite values")


def _prepare(rd: RunDir, resume: bool, overwrite: bool) -> None:
    """Refuse to start over an existing run unless told to; clear npgan's old outputs if so."""
    if resume or not rd.holds_a_run():
        return
    if not overwrite:
        raise RunDirError(f"{rd.path} holds a run already: continue it with --resume {rd.path}, "
                          f"or start afresh there with --overwrite")
    for name in OUTPUTS:
        if os.path.exists(os.path.join(rd.path, name)):
            os.remove(os.path.join(rd.path, name))
    for grid in glob.glob(os.path.join(rd.path, "grids", "step_*.png")):
        os.remove(grid)


def train(cfg: dict, out_dir, resume: bool = False, progress: bool = True, plots: bool = True,
          until: int | None = None, callback=None, log=print, overwrite: bool = False) -> dict:
    """Train per ``cfg`` into ``out_dir`` (or continue the run there); return the last metrics.

    ``until`` stops after that step as an interruption would (the schedule still runs to
    ``cfg["steps"]``); pair it with ``log_every`` dividing it so the checkpoint is current.
    ``callback(trainer, dataset, record)``, if given, runs at every logging step (with the
    random state preserved), e.g. to keep samples for a figure. A folder holding a run is
    refused unless ``resume`` or ``overwrite``; see ``npgan.gan.rundir`` for the rest of
    what a run folder guarantees. Raises ``TrainingDiverged`` or ``RunInterrupted``.
    """
    trainer, ds = build(cfg)  # before the folder is touched: bad data or options write nothing
    with RunDir(out_dir) as rd:
        _prepare(rd, resume, overwrite)
        if resume:
            trainer.load(rd.checkpoint)
        records = rd.read_records(trainer.step, warn=log) if resume else []
        rd.start_log(records)
        evaluator = make_evaluator(cfg, ds, out_dir, log)
        _run(cfg, trainer, ds, rd, evaluator, records, progress, until, callback)
        if plots and records:
            from ..evaluation import plot
            evaluator.final_plots(trainer, records)
            loss = getattr(trainer, "loss", None)
            plot.plot_losses(records, os.path.join(out_dir, "losses.png"),
                             title=f"{cfg['trainer']} ({loss.name} loss) on {cfg['data']}" if loss
                             else f"{cfg['trainer']} on {cfg['data']}",
                             equilibrium=loss.equilibrium() if loss else None)
    return evaluator.summary(records[-1]) if records else {}


def _run(cfg, trainer, ds, rd, evaluator, records, progress, until, callback) -> None:
    """The loop: train, and at each logging step check, measure, log and checkpoint."""
    rows = trainer.rows_per_step(cfg["batch_size"])

    def step_fn(_):
        if trainer.num_classes:
            x, y = ds.sample_labeled(rows)
            return trainer.train_step(x, labels=y)
        return trainer.train_step(ds.sample(rows))

    def on_log(step, record):
        record = {"step": step, **record, **evaluator(trainer)}
        if callback is not None:
            with B.preserved_rng():
                callback(trainer, ds, record)
        _check_finite(trainer, record, step)  # before anything is written
        rd.append(record)
        records.append(record)
        trainer.save(rd.checkpoint, config=cfg)
        return evaluator.postfix(record)

    with stop_requests() as request, B.ThreadGovernor() as threads:  # one thread on a busy machine
        def should_stop():
            threads.tick()
            return bool(request)

        fit(step_fn, trainer.optimizers(), lr=cfg["lr"],
            decay=cfg["lr_decay"], total=cfg["steps"], start=trainer.step, stop=until,
            log_every=cfg["log_every"], on_log=on_log, should_stop=should_stop,
            progress=f"{cfg['trainer']} on {cfg['data']}" if progress else None)
    if request:
        trainer.save(rd.checkpoint, config=cfg)
        raise RunInterrupted(trainer.step, request.signal, rd.checkpoint)
