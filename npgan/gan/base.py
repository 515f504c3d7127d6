"""What every trainer shares: the registry, the noise prior, sampling, and whole-state checkpoints.

A trainer is one class registered under its name in ``TRAINERS`` (``@register_trainer``).
What the command line and the training loop need of it, it says itself:

* ``name``: what ``npgan train --trainer NAME`` and the config call it;
* ``defaults``: its changes to the config defaults, on every data set;
* ``options``: the config keys only it reads (another trainer refuses them);
* ``uses_discriminator`` and ``for_images``: which networks to build, and whether
  it trains on image sets;
* ``from_config(cfg, generator, discriminator)``: the trainer a config describes (by
  default, each constructor argument named like a config key gets its value);
* ``optimizers()``: what the learning-rate schedule sets;
* ``rows_per_step(batch_size)``: how many real rows one ``train_step`` takes;
* ``data_parallel``: whether it runs on several ranks (``npgan.parallel``): then
  ``train_step`` receives the whole minibatch on every rank and keeps its shard.
"""

from __future__ import annotations

import inspect
import json

from .. import backend as B
from ..comm import SingleProcess
from ..io import save_npz
from ..optim import Optimizer
from ..parallel import shard
from .conditional import balanced_labels, with_labels
from .rundir import read_checkpoint

NOISE = ("normal", "uniform")
TRAINERS: dict = {}


def make_registrar(table: dict, what: str):
    """A class decorator that enters a class into ``table`` under its ``name`` (new, non-empty)."""
    def register(cls):
        if not cls.name or cls.name in table:
            raise ValueError(f"{what}: {cls.__name__} needs a new, non-empty name (got {cls.name!r})")
        table[cls.name] = cls
        return cls

    register.__doc__ = f"Class decorator: make a class available under its ``name`` ({what})."
    return register


register_trainer = make_registrar(TRAINERS, "register_trainer")


class Trainer:
    """Base class. Subclasses set ``self.generator``, ``self.latent_dim`` and list their
    networks and optimisers in ``_parts()`` as (prefix, object) pairs."""

    name = ""
    defaults: dict = {}
    options: tuple = ()
    uses_discriminator = False
    for_images = True
    data_parallel = False

    def __init__(self, generator, latent_dim: int, noise: str = "normal"):
        if noise not in NOISE:
            raise ValueError(f"unknown noise prior {noise!r}; expected one of {NOISE}")
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be positive, got {latent_dim}")
        self.generator = generator
        self.latent_dim = int(latent_dim)
        self.noise = noise
        self.num_classes = 0  # a conditional trainer sets K: G's input is [z, one-hot label]
        self.step = 0  # training steps taken
        self.comm = SingleProcess()  # the ranks of a data-parallel run (npgan.comm)

    def _parts(self):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def from_config(cls, cfg: dict, generator, discriminator=None) -> "Trainer":
        """The trainer a config describes: each constructor argument named like a config key
        (``lr``, ``d_steps``, ...; ``num_classes`` for a conditional run) gets that key's value,
        so a new option reaches its trainer by its name alone."""
        params = inspect.signature(cls.__init__).parameters
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items() if k in params}
        if "discriminator" in params:
            kwargs["discriminator"] = discriminator
        return cls(generator, **kwargs)

    def train_step(self, real_batch) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def optimizers(self) -> list:
        """The optimisers a learning-rate schedule sets (those among ``_parts``)."""
        return [part for _, part in self._parts() if isinstance(part, Optimizer)]

    def rows_per_step(self, batch_size: int) -> int:
        """Real rows one ``train_step`` takes for minibatches of ``batch_size``."""
        return batch_size

    def shard(self, a):
        """This rank's rows of an array that holds the whole minibatch (``npgan.parallel.shard``)."""
        return shard(a, self.comm)

    def draw_rows(self, draw, n: int):
        """``draw(N)`` for the whole minibatch, N = n x the ranks, and this rank's n rows of it:
        every rank draws what one process would, so the random state advances alike."""
        return self.shard(draw(n * self.comm.size))

    def sample_noise(self, n: int):
        """z ~ p_z: N(0, I) or U[-1, 1]^latent_dim, (n, latent_dim)."""
        if self.noise == "normal":
            return B.normal((n, self.latent_dim))
        return B.uniform((n, self.latent_dim), -1.0, 1.0)

    def generator_input(self, z, labels=None):
        """What G sees: z, or for a conditional trainer [z, one-hot labels] (``gan.conditional``)."""
        if not self.num_classes:
            if labels is not None:
                raise ValueError(f"{type(self).__name__} is not conditional: it takes no labels")
            return z
        labels = balanced_labels(z.shape[0], self.num_classes) if labels is None else labels
        return with_labels(z, labels, self.num_classes)

    def sample(self, n: int, z=None, labels=None):
        """n generated samples G(z) in eval mode (BatchNorm uses its running statistics); for a
        conditional trainer, of ``labels`` (default: every class in turn, 0, 1, ..., K-1, 0, ...)."""
        z = self.sample_noise(n) if z is None else z
        return self.generator.forward(self.generator_input(z, labels), training=False)

    # -- checkpoints -----------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to continue training exactly: networks, optimisers, step, RNG."""
        out = {}
        for prefix, part in self._parts():
            for k, v in part.state_dict().items():
                out[f"{prefix}.{k}"] = v
        out["step"] = B.host.asarray(self.step)
        out["rng"] = B.host.asarray(json.dumps(B.get_rng_state()))
        return out

    def load_state_dict(self, state: dict) -> None:
        for prefix, part in self._parts():
            sub = {k[len(prefix) + 1:]: v for k, v in state.items() if k.startswith(prefix + ".")}
            part.load_state_dict(sub)
        self.step = int(state["step"])
        B.set_rng_state(json.loads(str(state["rng"])))

    def save(self, path, config: dict | None = None) -> str:
        """Write the training state (and a JSON ``config`` to rebuild it) atomically to ``path``.
        A run folder writes its checkpoints with ``RunDir.write_checkpoint`` instead, which
        adds the run's identity and refuses a non-finite state."""
        state = self.state_dict()
        state["config"] = B.host.asarray(json.dumps(config or {}))
        return save_npz(path, state)

    def load(self, path) -> "Trainer":
        """Restore this trainer from a checkpoint file, checked by ``read_checkpoint``; returns it."""
        ckpt = read_checkpoint(path)
        return self.restore(ckpt.state, ckpt.path)

    def restore(self, state: dict, source="checkpoint") -> "Trainer":
        """Restore from an archive already read (``read_checkpoint(path).state``); returns the trainer."""
        for key in ("step", "rng"):
            if key not in state:
                raise KeyError(f"{source}: not a training checkpoint (missing key {key!r})")
        self.load_state_dict({k: v for k, v in state.items() if k not in ("config", "run")})
        return self


def read_config(path) -> dict:
    """The JSON config stored in a checkpoint (checked by ``read_checkpoint``)."""
    return read_checkpoint(path).config
