"""A training run's config: the defaults, each data set's recipe, and the checks.

``make_config(**overrides)`` layers, from weakest to strongest: ``DEFAULTS``; the
chosen trainer's ``defaults`` (its class in ``npgan.gan.base.TRAINERS``); the data set's
entry in ``RECIPES`` and, under its ``"by_trainer"`` key, the part for that trainer;
then the caller's overrides (``None`` meaning "not given"). The result is validated
before anything is built. Why each recipe is what it is, with its measurements:
CHANGELOG.md and benchmarks/QUALITY.md.
"""

from __future__ import annotations

import math

from ..data import check_name, is_image
from ..losses import DEFAULT_BANDWIDTHS
from ..training import LR_DECAYS
from .base import NOISE, TRAINERS
from .losses import GAN_LOSSES
from .models import D_NORMS, MODELS

DEFAULTS = {
    "data": "ring8",
    "trainer": "gan",
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
    "gp": 0.0,              # WGAN-GP's lambda: penalty (||grad D|| - 1)^2 on interpolates
    "r1": 0.0,              # R1's gamma: penalty gamma/2 ||grad D||^2 on real samples
    "d_norm": "auto",       # dcgan critic: "batch", "layer" or "none"; auto: layer under a penalty
    "conditional": False,   # class-conditional: labels (a mixture's modes, an image set's classes) in G and D
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
    "classifier": None,     # image sets: classifier file for the FD (default: the cached one)
}

# per data set: changes to DEFAULTS and, under "by_trainer", per trainer on that set.
# ring8: k = 2 D steps hold all 8 modes on every seed; 30,000 MMD steps thin its between-mode paths.
# grid25: wider networks, batch 1024 and uniform noise cover all 25 modes on every seed.
# fashion-mnist: the DCGAN recipe (Radford et al. 2016): Adam 2e-4, beta1 0.5, batch 64, z in R^100.
RECIPES = {
    "ring8": {"by_trainer": {"gan": {"d_steps": 2}, "mmd": {"steps": 30000}}},
    "grid25": {"hidden": 256, "batch_size": 1024, "noise": "uniform",
               "by_trainer": {"mmd": {"batch_size": 512}}},
    "fashion-mnist": {"model": "dcgan", "latent_dim": 100, "batch_size": 64, "lr": 2e-4,
                      "lr_decay": "none", "steps": 3000, "log_every": 250, "eval_samples": 2000},
}


def _layers(data: str, trainer: str, loss: str | None) -> list:
    """The layers of defaults above DEFAULTS for a data set, trainer and loss, weakest first
    (a loss's own optimiser settings, e.g. the Wasserstein critic's betas, come last)."""
    recipe = dict(RECIPES.get(data, {}))
    by_trainer = recipe.pop("by_trainer", {})
    cls = TRAINERS.get(trainer)
    layers = [cls.defaults if cls else {}, recipe, by_trainer.get(trainer, {})]
    if loss is None:  # the loss the layers above and DEFAULTS choose
        loss = next((layer["loss"] for layer in reversed(layers) if "loss" in layer), DEFAULTS["loss"])
    loss_cls = GAN_LOSSES.get(loss) if cls is not None and "loss" in cls.options else None
    return layers + [dict(loss_cls.defaults) if loss_cls else {}]


def make_config(**overrides) -> dict:
    """DEFAULTS, the trainer's defaults, the data set's recipe, then ``overrides``; validated."""
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown option {sorted(unknown)[0]!r}")
    given = {k: v for k, v in overrides.items() if v is not None}
    data = check_name(given.get("data", DEFAULTS["data"]))
    trainer = given.get("trainer", DEFAULTS["trainer"])
    cfg = dict(DEFAULTS)
    for layer in _layers(data, trainer, given.get("loss")):
        cfg.update(layer)
    cfg.update(given)
    validate(cfg)
    return cfg


def _choice_checks(cfg: dict) -> list:
    data, trainer = cfg["data"], TRAINERS.get(cfg["trainer"])
    foreign = sorted(k for name, cls in TRAINERS.items() if name != cfg["trainer"]
                     for k in cls.options if cfg[k] != DEFAULTS[k])
    return [
        (trainer is not None, f"unknown trainer {cfg['trainer']!r}; expected one of {tuple(TRAINERS)}"),
        (cfg["loss"] in GAN_LOSSES, f"unknown loss {cfg['loss']!r}; expected one of {tuple(GAN_LOSSES)}"),
        (cfg["noise"] in NOISE, f"unknown noise {cfg['noise']!r}; expected one of {NOISE}"),
        (cfg["model"] in MODELS, f"unknown model {cfg['model']!r}; expected one of {MODELS}"),
        (cfg["lr_decay"] in LR_DECAYS, f"lr_decay must be one of {LR_DECAYS}, got {cfg['lr_decay']!r}"),
        (cfg["model"] == "mlp" or is_image(data),
         f"model {cfg['model']!r} is for images; {data} is trained with --model mlp"),
        (trainer is None or trainer.for_images or not is_image(data),
         f"the {cfg['trainer']} trainer works on the low-dimensional sets; {data} needs another trainer"),
        (not foreign, f"option {foreign[0] if foreign else ''!r} is not used by the {cfg['trainer']} trainer"),
    ]


def _number_checks(cfg: dict) -> list:
    return [
        (cfg["steps"] >= 1, f"steps must be a positive integer, got {cfg['steps']}"),
        (cfg["log_every"] >= 1, f"log_every must be a positive integer, got {cfg['log_every']}"),
        (cfg["batch_size"] >= 2, f"batch_size must be at least 2, got {cfg['batch_size']}"),
        (math.isfinite(cfg["lr"]) and cfg["lr"] > 0, f"lr must be a positive number, got {cfg['lr']}"),
        (all(math.isfinite(cfg[k]) for k in ("label_smoothing", "gp", "r1")),
         "label_smoothing, gp and r1 must be finite numbers"),
        (len(cfg["betas"]) == 2 and all(0 <= b < 1 for b in cfg["betas"]),
         f"betas must be two numbers in [0, 1), got {cfg['betas']}"),
        (cfg["d_steps"] >= 1 and cfg["pack"] >= 1, "d_steps and pack must be at least 1"),
        (0 <= cfg["label_smoothing"] < 1, f"label_smoothing must be in [0, 1), got {cfg['label_smoothing']}"),
        (cfg["gp"] >= 0 and cfg["r1"] >= 0, f"gp and r1 must be >= 0, got {cfg['gp']} and {cfg['r1']}"),
        (cfg["d_norm"] in D_NORMS, f"d_norm must be one of {D_NORMS}, got {cfg['d_norm']!r}"),
        (len(cfg["bandwidths"]) >= 1 and all(b > 0 for b in cfg["bandwidths"]),
         f"bandwidths must be one or more positive numbers, got {cfg['bandwidths']}"),
        (cfg["batch_size"] % cfg["pack"] == 0,
         f"batch_size {cfg['batch_size']} must be a multiple of pack {cfg['pack']}"),
    ]


def _type_error(key: str, value):
    """Why ``value`` cannot stand for ``key`` (its default's type), or None."""
    default = DEFAULTS[key]
    number = (int, float)
    if default is None:
        ok = value is None or isinstance(value, str)
        want = "a path"
    elif isinstance(default, bool):
        ok, want = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, want = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(default, float):
        ok, want = isinstance(value, number) and not isinstance(value, bool), "a number"
    elif isinstance(default, list):
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, number) and not isinstance(v, bool) for v in value)
        want = "a list of numbers"
    else:
        ok, want = isinstance(value, str), "a name"
    return None if ok else f"option {key!r} must be {want}, got {value!r}"


# upper bounds on what a config may ask for: a typo (--hidden 1000000000) is refused with a clear
# message instead of allocating until the machine kills the process
LIMITS = {"hidden": 16384, "latent_dim": 16384, "depth": 64, "width": 1024, "d_steps": 100, "pack": 64,
          "batch_size": 1 << 16, "eval_samples": 1_000_000, "eval_mmd": 20_000}
MAX_PARAMETERS = 1 << 28  # about 1 GiB of float32 weights per network


def _size_checks(cfg: dict) -> list:
    checks = [(cfg[k] <= v, f"{k} must be at most {v}, got {cfg[k]}") for k, v in LIMITS.items()]
    if all(ok for ok, _ in checks):
        h, z = cfg["hidden"], cfg["latent_dim"]
        mlp = (z + 784 * cfg["pack"] + h) * h * cfg["depth"]  # generous: image inputs, every layer h wide
        checks.append((mlp <= MAX_PARAMETERS, f"hidden {h} x depth {cfg['depth']} asks for about {mlp:.2e} "
                                              f"weights per network, more than {MAX_PARAMETERS:.2e}"))
    return checks


def validate(cfg: dict) -> None:
    """Raise ``ValueError`` with the first thing wrong in a complete config (types first)."""
    for key in DEFAULTS:
        problem = _type_error(key, cfg[key])
        if problem:
            raise ValueError(problem)
    for ok, msg in _choice_checks(cfg) + _number_checks(cfg) + _size_checks(cfg):
        if not ok:
            raise ValueError(msg)


def describe_default(key: str) -> str:
    """``key``'s default in words, with every data set or trainer that changes it, e.g.
    ``"12000; ring8 with mmd: 30000; fashion-mnist: 3000"`` (the command line's help)."""
    def text(v):
        return " ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)

    parts = [text(DEFAULTS[key])]
    for name, cls in TRAINERS.items():
        if key in cls.defaults:
            parts.append(f"{name} trainer: {text(cls.defaults[key])}")
    for name, loss in GAN_LOSSES.items():
        if key in loss.defaults:
            parts.append(f"{name} loss: {text(loss.defaults[key])}")
    for data, recipe in RECIPES.items():
        if key in recipe:
            parts.append(f"{data}: {text(recipe[key])}")
        for trainer, part in recipe.get("by_trainer", {}).items():
            if key in part:
                parts.append(f"{data} with {trainer}: {text(part[key])}")
    return "; ".join(parts)
