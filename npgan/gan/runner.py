"""The training loop behind ``npgan train``: build from a config, train with progress, log, plot.

A run directory holds:

* ``checkpoint.npz``: the whole training state (both networks, both optimisers,
  step, random state) and the run's config, rewritten atomically at every
  logging step and at the end; ``--resume`` continues from it;
* ``metrics.jsonl``: one JSON object per logging step (the step's figures averaged
  over the logging interval, plus mode metrics on 2,500 samples and MMD^2 on 1,000);
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
from ..backend import preserved_rng
from ..data import check_name, get_dataset, is_image
from ..io import atomic_write, load_npz
from ..losses import DEFAULT_BANDWIDTHS
from .adversarial import GAN, LOSSES
from .base import NOISE, config_of
from .evaluation import make_evaluator
from .mmd import MMDTrainer
from .models import (dcgan28_discriminator, dcgan28_generator, mlp_discriminator, mlp_generator,
                     mlp_image_discriminator, mlp_image_generator)

DEFAULTS = {
    "data": "ring8",
    "trainer": "gan",       # "gan" or "mmd"
    "steps": 12000,
    "batch_size": 256,
    "lr": 1e-3,
    "lr_decay": "linear",   # "linear" (to 0 at the last step) or "none"
    "betas": [0.5, 0.999],
    "seed": 0,
    "loss": "non_saturating",
    "d_steps": 1,
    "pack": 1,
    "bandwidths": list(DEFAULT_BANDWIDTHS),  # mmd trainer: Gaussian kernel bandwidths
    "label_smoothing": 0.0,
    "noise": "normal",
    "model": "mlp",         # "mlp" or, for 28x28 images, "dcgan"
    "latent_dim": 2,
    "hidden": 128,          # mlp width
    "depth": 3,             # mlp hidden layers
    "g_batchnorm": False,   # mlp generator: BatchNorm after each hidden Dense layer
    "width": 64,            # dcgan base channels (G: 2w -> w -> 1; D: w -> 2w)
    "log_every": 500,
    "eval_samples": 2500,   # samples for the metrics at each logging step
    "eval_mmd": 1000,       # of which this many for MMD^2 (O(n^2) cost)
    "data_dir": None,       # image sets: where the files are (default: the set's usual place)
    "classifier": None,     # image sets: classifier file for the FD (default: classifier.default_path())
}
TRAINERS = ("gan", "mmd")
MODELS = ("mlp", "dcgan")

# per-trainer changes to DEFAULTS, on every data set. The MMD generator learns from a
# minibatch statistic whose gradient is small near the optimum: at lr 1e-3 its samples were
# still sharpening at step 12,000. High-quality share over seeds 0-4 (benchmarks/QUALITY.md),
# lr 1e-3 / 3e-3 / 1e-2: ring8 90.9 / 94.2 / 95.5%; grid25 81.2 / 90.9 (4 seeds) / 93.5%.
# Uniform noise (fourth session, lr 1e-2): a bounded latent leaves no far tail of z for the
# network to extrapolate into stray samples: grid25 93.5 -> 94.6%; ring8 at 12,000 steps
# 95.8 -> 96.8% (its 30,000-step recipe below reaches the ring's target).
TRAINER_DEFAULTS = {"mmd": {"lr": 1e-2, "noise": "uniform"}}

# per-data-set changes to DEFAULTS (and, under "by_trainer", per trainer on that set).
# grid25 needs wider networks and bigger batches than the ring (measured, 12,000 steps, see
# benchmarks/QUALITY.md): hidden 128 covered 22/25 modes on seed 0, hidden 256 all 25. Modes
# captured over seeds 0-4 by the adversarial trainer: batch 256: 25 25 22 23 25; batch 512:
# 25 25 25 25 23; batch 1024: 25 on all five (97.5% high quality). Tried at batch 512 and
# rejected: 20,000 steps, lr 2e-3, d_steps 2, depth 4, BatchNorm in G, pack 2, latent 8,
# uniform noise. The MMD trainer keeps batch 512 there: it covers all 25 modes at 512, and its
# cost grows with the batch squared.
# grid25, uniform noise (fifth session): with N(0, I) noise seed 0 on the fourth session's
# machine dropped the grid's middle column (modes 22 25 25 25 25; its latent_map.png shows G
# squeezing that column out of the z-plane); with z ~ U[-1, 1]^2 the five seeds cover
# 25 25 25 25 25 modes at 96.5-97.7% high quality (benchmarks/QUALITY.md). At batch 512 the
# same change had slowed discovery (seed 4: 17 modes); at 1024 every seed finds all 25 by step 3,000.
# ring8, adversarial trainer: k = 2 discriminator steps per generator step. With k = 1, on the
# fourth session's machine, seeds 2-4 kept one mode starved (modes 8 8 7 8 7, reverse KL up to
# 0.36); with k = 2 all five seeds hold 8/8, evenly filled (reverse KL 0.006-0.014), 97.7% high
# quality. A better-trained D sees an under-filled mode and pushes G back to it.
# ring8, MMD trainer: 30,000 steps. Its stray samples lie between the modes (2.5% of them at
# 12,000 steps); the longer run thins those paths (1.2-1.7%) and lifts the high-quality share
# from 96.8% to the target (benchmarks/QUALITY.md). A run takes about 3 minutes on one thread.
# Fashion-MNIST: the DCGAN recipe (Radford et al. 2016): Adam 2e-4, beta1 0.5, batch 64, z in R^100
RECIPES = {
    "ring8": {"by_trainer": {"gan": {"d_steps": 2}, "mmd": {"steps": 30000}}},
    "grid25": {"hidden": 256, "batch_size": 1024, "noise": "uniform",
               "by_trainer": {"mmd": {"batch_size": 512}}},
    "fashion-mnist": {"model": "dcgan", "latent_dim": 100, "batch_size": 64, "lr": 2e-4,
                      "lr_decay": "none", "steps": 3000, "log_every": 250, "eval_samples": 2000},
}


def make_config(**overrides) -> dict:
    """DEFAULTS, the trainer's TRAINER_DEFAULTS, the data set's RECIPES entry (with its part for
    the chosen trainer), then ``overrides`` (``None`` ignored); validated."""
    cfg = dict(DEFAULTS)
    unknown = set(overrides) - set(cfg)
    if unknown:
        raise ValueError(f"unknown option {sorted(unknown)[0]!r}")
    given = {k: v for k, v in overrides.items() if v is not None}
    data = check_name(given.get("data", cfg["data"]))
    trainer = given.get("trainer", cfg["trainer"])
    cfg.update(TRAINER_DEFAULTS.get(trainer, {}))
    recipe = dict(RECIPES.get(data, {}))
    by_trainer = recipe.pop("by_trainer", {})
    cfg.update(recipe)
    cfg.update(by_trainer.get(trainer, {}))
    cfg.update(given)
    checks = [
        (cfg["trainer"] in TRAINERS, f"unknown trainer {cfg['trainer']!r}; expected one of {TRAINERS}"),
        (cfg["loss"] in LOSSES, f"unknown loss {cfg['loss']!r}; expected one of {LOSSES}"),
        (cfg["noise"] in NOISE, f"unknown noise {cfg['noise']!r}; expected one of {NOISE}"),
        (cfg["model"] in MODELS, f"unknown model {cfg['model']!r}; expected one of {MODELS}"),
        (cfg["model"] == "mlp" or is_image(data),
         f"model {cfg['model']!r} is for images; {data} is trained with --model mlp"),
        (cfg["trainer"] == "gan" or not is_image(data),
         f"the mmd trainer works on the low-dimensional sets; {data} needs --trainer gan"),
        (cfg["lr_decay"] in ("linear", "none"), "lr_decay must be 'linear' or 'none'"),
        (cfg["steps"] >= 1, f"steps must be a positive integer, got {cfg['steps']}"),
        (cfg["log_every"] >= 1, f"log_every must be a positive integer, got {cfg['log_every']}"),
        (cfg["batch_size"] >= 2, f"batch_size must be at least 2, got {cfg['batch_size']}"),
        (cfg["lr"] > 0, f"lr must be positive, got {cfg['lr']}"),
        (len(cfg["betas"]) == 2 and all(0 <= b < 1 for b in cfg["betas"]),
         f"betas must be two numbers in [0, 1), got {cfg['betas']}"),
        (cfg["d_steps"] >= 1 and cfg["pack"] >= 1, "d_steps and pack must be at least 1"),
        (len(cfg["bandwidths"]) >= 1 and all(b > 0 for b in cfg["bandwidths"]),
         f"bandwidths must be one or more positive numbers, got {cfg['bandwidths']}"),
        (cfg["batch_size"] % cfg["pack"] == 0,
         f"batch_size {cfg['batch_size']} must be a multiple of pack {cfg['pack']}"),
    ]
    for ok, msg in checks:
        if not ok:
            raise ValueError(msg)
    return cfg


def _networks(cfg: dict, ds):
    """(generator, discriminator) for the config's model and data (the MMD trainer uses only G)."""
    z, m = cfg["latent_dim"], cfg["pack"]
    if not is_image(cfg["data"]):
        G = mlp_generator(z, ds.dim, cfg["hidden"], cfg["depth"], batchnorm=cfg["g_batchnorm"])
        return G, mlp_discriminator(ds.dim * m, cfg["hidden"], cfg["depth"])
    if cfg["model"] == "mlp":
        return (mlp_image_generator(z, ds.shape, cfg["hidden"], cfg["depth"]),
                mlp_image_discriminator(ds.shape, cfg["hidden"], cfg["depth"], pack=m))
    if ds.shape != (1, 28, 28):
        raise ValueError(f"model dcgan is built for 1x28x28 images; {cfg['data']} has {ds.shape}")
    return dcgan28_generator(z, cfg["width"]), dcgan28_discriminator(cfg["width"], in_channels=m)


def build(cfg: dict):
    """(trainer, dataset) for a config; networks initialised from the config's seed."""
    B.seed(cfg["seed"])
    ds = get_dataset(cfg["data"], cfg["data_dir"])  # the folder matters for image sets only
    G, D = _networks(cfg, ds)
    common = dict(noise=cfg["noise"], lr=cfg["lr"], betas=tuple(cfg["betas"]))
    if cfg["trainer"] == "mmd":
        return MMDTrainer(G, cfg["latent_dim"], bandwidths=cfg["bandwidths"], **common), ds
    return GAN(G, D, cfg["latent_dim"], loss=cfg["loss"], d_steps=cfg["d_steps"],
               label_smoothing=cfg["label_smoothing"], pack=cfg["pack"], **common), ds


def load_run(checkpoint):
    """(trainer, dataset, config) restored from a checkpoint written by ``train``."""
    state = load_npz(checkpoint)  # read once: config and training state
    cfg = config_of(state, checkpoint)
    trainer, ds = build(make_config(**cfg))
    trainer.restore(state, checkpoint)
    return trainer, ds, cfg


def learning_rate(cfg: dict, step: int) -> float:
    """lr at 0-based ``step``: constant, or linearly decayed to 0 at the last step."""
    if cfg["lr_decay"] == "none":
        return cfg["lr"]
    return cfg["lr"] * (1.0 - step / cfg["steps"])


def _read_records(path, upto: int):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [r for r in (json.loads(line) for line in f if line.strip()) if r["step"] <= upto]


def train(cfg: dict, out_dir, resume: bool = False, progress: bool = True, plots: bool = True,
          until: int | None = None, callback=None, log=print) -> dict:
    """Train per ``cfg`` into ``out_dir`` (or continue the run there); return the last metrics.

    ``until`` stops after that step as an interruption would (the schedule still runs to
    ``cfg["steps"]``); pair it with ``log_every`` dividing it so the checkpoint is current.
    ``callback(trainer, dataset, record)``, if given, runs at every logging step (with the
    random state preserved), e.g. to keep samples for a figure.
    """
    ckpt = os.path.join(out_dir, "checkpoint.npz")
    log_path = os.path.join(out_dir, "metrics.jsonl")
    trainer, ds = build(cfg)
    if resume:
        trainer.load(ckpt)
    os.makedirs(out_dir, exist_ok=True)
    records = _read_records(log_path, trainer.step) if resume else []
    with atomic_write(log_path, "w") as f:  # drop lines past the checkpoint, if any
        f.writelines(json.dumps(r) + "\n" for r in records)
    evaluator = make_evaluator(cfg, trainer, ds, out_dir, log)

    opts = [trainer.g_opt] + ([trainer.d_opt] if isinstance(trainer, GAN) else [])
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=cfg["steps"], initial=trainer.step, desc=f"{cfg['trainer']} on {cfg['data']}",
                   unit="step", dynamic_ncols=True)
    sums, count = {}, 0
    batch = cfg["batch_size"] * (cfg["d_steps"] if cfg["trainer"] == "gan" else 1)
    stop = cfg["steps"] if until is None else min(until, cfg["steps"])
    while trainer.step < stop:
        lr = learning_rate(cfg, trainer.step)
        for o in opts:
            o.lr = lr
        stats = trainer.train_step(ds.sample(batch))
        for k, v in stats.items():
            if k != "step":
                sums[k] = sums.get(k, 0.0) + v
        count += 1
        if bar is not None:
            bar.update(1)
        if trainer.step % cfg["log_every"] == 0 or trainer.step == cfg["steps"]:
            rec = {"step": trainer.step, "lr": lr, **{k: v / count for k, v in sums.items()}}
            rec.update(evaluator(trainer))
            if callback is not None:
                with preserved_rng():
                    callback(trainer, ds, rec)
            sums, count = {}, 0
            records.append(rec)
            with open(log_path, "a") as f:
                f.write(json.dumps(rec) + "\n")
            trainer.save(ckpt, config=cfg)
            if bar is not None:
                bar.set_postfix(evaluator.postfix(rec))
    if bar is not None:
        bar.close()
    if plots and records:
        from .. import plot
        evaluator.final_plots(trainer, records)
        plot.plot_losses(records, os.path.join(out_dir, "losses.png"),
                         title=f"{cfg['trainer']} on {cfg['data']}")
    return evaluator.summary(records[-1]) if records else {}
