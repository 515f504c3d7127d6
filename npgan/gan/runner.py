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

import json
import os

from .. import backend as B
from ..data import get_dataset
from ..evaluation.evaluators import make_evaluator
from ..io import atomic_write, load_npz
from ..training import fit
from .base import TRAINERS, config_of
from .config import make_config
from .models import build_networks, largest_product


def build(cfg: dict):
    """(trainer, dataset) for a config; networks initialised from the config's seed."""
    B.seed(cfg["seed"])
    ds = get_dataset(cfg["data"], cfg["data_dir"])  # the folder matters for image sets only
    cls = TRAINERS[cfg["trainer"]]
    G, D = build_networks(cfg, ds, discriminator=cls.uses_discriminator)
    return cls.from_config(cfg, G, D), ds


def from_checkpoint(checkpoint):
    """(trainer, dataset, config) restored from a checkpoint written by ``train``."""
    state = load_npz(checkpoint)  # read once: config and training state
    cfg = config_of(state, checkpoint)
    trainer, ds = build(make_config(**cfg))
    trainer.restore(state, checkpoint)
    return trainer, ds, cfg


def _read_records(path, upto: int) -> list:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [r for r in (json.loads(line) for line in f if line.strip()) if r["step"] <= upto]


def _start_log(path, records) -> None:
    """Rewrite the metrics log with ``records`` (on resume: drops lines past the checkpoint)."""
    with atomic_write(path, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)


def train(cfg: dict, out_dir, resume: bool = False, progress: bool = True, plots: bool = True,
          until: int | None = None, callback=None, log=print) -> dict:
    """Train per ``cfg`` into ``out_dir`` (or continue the run there); return the last metrics.

    ``until`` stops after that step as an interruption would (the schedule still runs to
    ``cfg["steps"]``); pair it with ``log_every`` dividing it so the checkpoint is current.
    ``callback(trainer, dataset, record)``, if given, runs at every logging step (with the
    random state preserved), e.g. to keep samples for a figure.
    """
    ckpt, log_path = os.path.join(out_dir, "checkpoint.npz"), os.path.join(out_dir, "metrics.jsonl")
    trainer, ds = build(cfg)
    if resume:
        trainer.load(ckpt)
    os.makedirs(out_dir, exist_ok=True)
    records = _read_records(log_path, trainer.step) if resume else []
    _start_log(log_path, records)
    evaluator = make_evaluator(cfg, ds, out_dir, log)
    rows = trainer.rows_per_step(cfg["batch_size"])

    def on_log(step, record):
        record = {"step": step, **record, **evaluator(trainer)}
        if callback is not None:
            with B.preserved_rng():
                callback(trainer, ds, record)
        records.append(record)
        with open(log_path, "a") as f:
            f.write(json.dumps(record) + "\n")
        trainer.save(ckpt, config=cfg)
        return evaluator.postfix(record)

    with B.limit_threads(B.threads_for(largest_product(cfg, ds))):  # 1 thread for small products
        fit(lambda step: trainer.train_step(ds.sample(rows)), trainer.optimizers(), lr=cfg["lr"],
            decay=cfg["lr_decay"], total=cfg["steps"], start=trainer.step, stop=until,
            log_every=cfg["log_every"], on_log=on_log,
            progress=f"{cfg['trainer']} on {cfg['data']}" if progress else None)
    if plots and records:
        from ..evaluation import plot
        evaluator.final_plots(trainer, records)
        plot.plot_losses(records, os.path.join(out_dir, "losses.png"),
                         title=f"{cfg['trainer']} on {cfg['data']}")
    return evaluator.summary(records[-1]) if records else {}
