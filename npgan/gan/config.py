"""A training run's config: every option declared once, each data set's recipe, and the checks.

An option is one ``Option`` in ``OPTIONS``: its name, default, help, command-line form, the
check its value must pass and, where it is for some runs only, which. From that one
declaration come ``DEFAULTS``, the checks of ``make_config``, the flags of ``npgan train``
(``npgan.cli``) and its help text. Which *trainer* reads an option the trainer says itself
(its ``options``, ``npgan.gan.base``); another trainer refuses it.

``make_config(**overrides)`` layers, from weakest to strongest: ``DEFAULTS``; the
chosen trainer's ``defaults``; the data set's entry in ``RECIPES`` and, under its
``"by_trainer"`` key, the part for that trainer; the loss's own defaults; then the
caller's overrides (``None`` meaning "not given"). The result is checked before anything
is built, and paths are made absolute, so a run reads the same files from any folder.
The comment above ``RECIPES`` gives each recipe's reason.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from ..data import check_name, image_dir, is_image, names
from ..losses import BANDWIDTH_RANGE, DEFAULT_BANDWIDTHS
from ..training import LR_DECAYS
from .base import NOISE, TRAINERS
from .losses import GAN_LOSSES
from .models import D_NORMS, MODELS

FLOAT32_TINY = 1.1754944e-38  # the smallest normal float32: a learning rate below it is 0 in float32
MIN_EVAL_SAMPLES = 100  # fewer samples leave the metrics to chance (and MMD^2's estimate below 0)


def _mlp(cfg):
    return cfg["model"] == "mlp"


def _dcgan(cfg):
    return cfg["model"] == "dcgan"


def _images(cfg):
    return is_image(cfg["data"])


@dataclass(frozen=True)
class Option:
    """One config key. ``check(value) -> bool`` with ``must`` saying what it asks for in words,
    or ``choices``, a function naming the values a registry holds now (a trainer or loss
    registered later is a choice too); ``flag``: argparse keywords of ``npgan train --NAME``
    (None: no flag); ``applies``: (predicate on the whole config, what the option is for)
    where it is for some runs only."""

    name: str
    default: object
    help: str
    flag: dict | None = field(default_factory=dict)
    check: object = None
    must: str = ""
    applies: tuple | None = None
    choices: object = None

    def problem(self, value) -> str | None:
        """Why ``value`` fails this option's own check, or None."""
        if self.choices is not None and value not in self.choices():
            return f"{self.name} must be one of {tuple(self.choices())}, got {value!r}"
        if self.check is not None and not self.check(value):
            return f"{self.name} must be {self.must}, got {value}"
        return None

    def flag_keywords(self) -> dict:
        """argparse keywords of the flag, with the choices of this moment."""
        return {**self.flag, **({"choices": list(self.choices())} if self.choices else {})}


def _positive(v):
    return v >= 1


def _at_most(limit):
    return lambda v: 1 <= v <= limit


OPTIONS = (
    Option("data", "ring8", "data set", choices=names),
    Option("trainer", "gan", "trainer", choices=lambda: list(TRAINERS)),
    Option("steps", 12000, "total training steps", dict(type=int), _positive, "a positive integer"),
    Option("batch_size", 256, "minibatch size", dict(type=int), lambda v: 2 <= v <= 1 << 16,
           "an integer from 2 to 65536"),
    Option("lr", 1e-3, "Adam's learning rate", dict(type=float),
           lambda v: math.isfinite(v) and v >= FLOAT32_TINY,
           f"a positive number, at least {FLOAT32_TINY:.2g} (smaller is 0 in float32)"),
    Option("lr_decay", "linear", "learning-rate schedule: linear decays to 0 at the last step",
           choices=lambda: LR_DECAYS),
    Option("betas", [0.5, 0.999], "Adam's betas", dict(type=float, nargs=2, metavar=("B1", "B2")),
           lambda v: len(v) == 2 and all(0 <= b < 1 for b in v), "two numbers in [0, 1)"),
    Option("dtype", "float32", "floating-point type of the networks and the training (float64: to compare "
           "runs, e.g. one process and several, to rounding)", choices=lambda: ("float32", "float64")),
    Option("seed", 0, "seed of every random draw", dict(type=int), lambda v: 0 <= v < 2 ** 63,
           "an integer from 0 to 2^63 - 1"),
    Option("loss", "non_saturating", "GAN loss", choices=lambda: list(GAN_LOSSES)),
    Option("d_steps", 1, "discriminator steps per generator step, k", dict(type=int), _at_most(100),
           "an integer from 1 to 100"),
    Option("pack", 1, "PacGAN packing degree m", dict(type=int), _at_most(64), "an integer from 1 to 64"),
    Option("label_smoothing", 0.0, "one-sided: real targets 1 - s", dict(type=float), lambda v: 0 <= v < 1,
           "in [0, 1)"),
    Option("gp", 0.0, "WGAN-GP: lambda * (||grad D|| - 1)^2 on interpolates", dict(type=float, metavar="LAMBDA"),
           lambda v: 0 <= v <= 1e4, "from 0 to 10000 (the papers use 0.1 to 10)"),
    Option("r1", 0.0, "R1: gamma/2 * ||grad D||^2 on real samples", dict(type=float, metavar="GAMMA"),
           lambda v: 0 <= v <= 1e4, "from 0 to 10000 (the papers use 0.1 to 100)"),
    Option("d_norm", "auto", "dcgan critic's normaliser (spectral: SpectralNorm on its convolutions and last layer); "
           "auto: layer under a penalty, else batch",
           applies=(_dcgan, "--model dcgan"), choices=lambda: D_NORMS),
    Option("bandwidths", list(DEFAULT_BANDWIDTHS), "mmd trainer: Gaussian kernel bandwidths",
           dict(type=float, nargs="+", metavar="S"),
           lambda v: len(v) >= 1 and all(BANDWIDTH_RANGE[0] <= b <= BANDWIDTH_RANGE[1] for b in v),
           f"one or more positive numbers from {BANDWIDTH_RANGE[0]:g} to {BANDWIDTH_RANGE[1]:g}"),
    Option("conditional", False, "class-conditional GAN: labels (a mixture's modes, an image set's classes) "
           "enter G and D", dict(action="store_const", const=True)),
    Option("noise", "normal", "noise prior p_z", choices=lambda: NOISE),
    Option("model", "mlp", "network family, dcgan for 28x28 images", choices=lambda: MODELS),
    Option("latent_dim", 2, "size of z", dict(type=int), _at_most(16384), "an integer from 1 to 16384"),
    Option("hidden", 128, "mlp width", dict(type=int), _at_most(16384), "an integer from 1 to 16384",
           (_mlp, "--model mlp")),
    Option("depth", 3, "mlp hidden layers", dict(type=int), _at_most(64), "an integer from 1 to 64",
           (_mlp, "--model mlp")),
    Option("g_batchnorm", False, "mlp generator of the low-dimensional sets: BatchNorm after each hidden layer",
           dict(action="store_const", const=True), None, "", (lambda c: not _images(c), "the low-dimensional sets")),
    Option("width", 64, "dcgan base channel count", dict(type=int), _at_most(1024), "an integer from 1 to 1024",
           (_dcgan, "--model dcgan")),
    Option("log_every", 500, "steps between logged metrics and checkpoints", dict(type=int), _positive,
           "a positive integer"),
    Option("eval_samples", 2500, "samples for the metrics at each logging step", None,
           lambda v: MIN_EVAL_SAMPLES <= v <= 1_000_000, f"an integer from {MIN_EVAL_SAMPLES} to 1000000"),
    Option("eval_mmd", 1000, "of which this many for MMD^2 (O(n^2) cost)", None, lambda v: 10 <= v <= 20_000,
           "an integer from 10 to 20000"),
    Option("data_dir", None, "image sets: folder with the IDX files (default: $NPGAN_FASHION_MNIST or the "
           "Debian package's)", {}, None, "", (_images, "image data sets")),
    Option("classifier", None, "image sets: classifier file for the Frechet distance (default: the one "
           "npgan train-classifier writes)", {}, None, "", (_images, "image data sets")),
)
OPTION = {o.name: o for o in OPTIONS}
DEFAULTS = {o.name: o.default for o in OPTIONS}

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
    """DEFAULTS, the trainer's defaults, the data set's recipe, then ``overrides``; checked."""
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown option {sorted(unknown)[0]!r}")
    given = {k: v for k, v in overrides.items() if v is not None}
    data = check_name(given.get("data", DEFAULTS["data"]))
    trainer = given.get("trainer", DEFAULTS["trainer"])
    cfg = dict(DEFAULTS)
    for layer in _layers(data, trainer, given.get("loss")):
        cfg.update(layer)
    defaults = dict(cfg)
    cfg.update(given)
    validate(cfg, defaults)
    if is_image(data):  # where the files are, as the run will find them from any folder
        cfg["data_dir"] = image_dir(cfg["data_dir"])
        cfg["classifier"] = os.path.abspath(cfg["classifier"]) if cfg["classifier"] else None
    return cfg


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


def _cross_checks(cfg: dict) -> list:
    """What no single option can check: how the options fit each other."""
    data, trainer = cfg["data"], TRAINERS[cfg["trainer"]]
    foreign = sorted(k for name, cls in TRAINERS.items() if name != cfg["trainer"]
                     for k in cls.options if k not in trainer.options and cfg[k] != DEFAULTS[k])
    h, z = cfg["hidden"], cfg["latent_dim"]
    mlp = (z + 784 * cfg["pack"] + h) * h * cfg["depth"]  # generous: image inputs, every layer h wide
    return [
        (cfg["model"] == "mlp" or is_image(data),
         f"model {cfg['model']!r} is for images; {data} is trained with --model mlp"),
        (trainer.for_images or not is_image(data),
         f"the {cfg['trainer']} trainer works on the low-dimensional sets; {data} needs another trainer"),
        (not foreign, f"option {foreign[0] if foreign else ''!r} is not used by the {cfg['trainer']} trainer"),
        (cfg["batch_size"] % cfg["pack"] == 0,
         f"batch_size {cfg['batch_size']} must be a multiple of pack {cfg['pack']}"),
        (mlp <= MAX_PARAMETERS, f"hidden {h} x depth {cfg['depth']} asks for about {mlp:.2e} "
                                f"weights per network, more than {MAX_PARAMETERS:.2e}"),
    ]


MAX_PARAMETERS = 1 << 28  # about 1 GiB of float32 weights per network: a typo is refused, not allocated


def validate(cfg: dict, defaults: dict | None = None) -> None:
    """Raise ``ValueError`` with the first thing wrong in a complete config: types, then each
    option's own check, then options set for runs they are not for (differing from
    ``defaults``, the layered defaults of this run), then how the options fit together."""
    for key in DEFAULTS:
        problem = _type_error(key, cfg[key])
        if problem:
            raise ValueError(problem)
    for o in OPTIONS:
        problem = o.problem(cfg[o.name])
        if problem:
            raise ValueError(problem)
    defaults = DEFAULTS if defaults is None else defaults
    for o in OPTIONS:
        if o.applies is not None and not o.applies[0](cfg) and cfg[o.name] != defaults[o.name]:
            raise ValueError(f"option {o.name!r} is for {o.applies[1]}; this run ({cfg['data']}, model "
                             f"{cfg['model']}) does not use it")
    for ok, msg in _cross_checks(cfg):
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
