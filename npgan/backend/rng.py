"""npgan's one seeded random generator: every initialiser, noise vector, dropout mask and batch.

Randomness is drawn on the host and moved to the device. That costs a small
host-to-device copy per draw but buys two things a student can see: a seeded run
draws the *same* numbers on the CPU and on the GPU, and the generator state is a
plain dict that a checkpoint can save and restore on either backend.
"""

from __future__ import annotations

import contextlib

import numpy

from .arrays import asarray, get_dtype

_rng = {"gen": numpy.random.default_rng(0)}


def seed(n: int) -> None:
    """Reseed npgan's one random generator (initialisers, noise, dropout, batches)."""
    _rng["gen"] = numpy.random.default_rng(n)


@contextlib.contextmanager
def preserved_rng():
    """Run the body with the random state saved and restored: draws made inside (evaluation,
    building a network only to load weights into it) do not change what comes after."""
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


def _draw(values, dtype):
    return asarray(values, dtype=dtype if dtype is not None else get_dtype())


def normal(shape, mean=0.0, std=1.0, dtype=None):
    """Draw N(mean, std^2) samples of ``shape`` in the current backend and dtype."""
    return _draw(_rng["gen"].normal(mean, std, size=shape), dtype)


def uniform(shape, low=0.0, high=1.0, dtype=None):
    """Draw U[low, high) samples of ``shape`` in the current backend and dtype."""
    return _draw(_rng["gen"].uniform(low, high, size=shape), dtype)


def bernoulli(shape, p_one, dtype=None):
    """0/1 samples that are 1 with probability ``p_one`` (dropout's keep mask)."""
    return _draw(_rng["gen"].random(size=shape) < p_one, dtype)


def integers(low, high, size):
    """Integers in [low, high) as a host NumPy array (indices for batching)."""
    return _rng["gen"].integers(low, high, size=size)


def permutation(n: int):
    """A random permutation of range(n) as a host NumPy array."""
    return _rng["gen"].permutation(n)


def get_rng_state() -> dict:
    """The generator's full state (a plain dict, safe to put in a checkpoint)."""
    return _rng["gen"].bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state returned by ``get_rng_state``."""
    gen = numpy.random.default_rng()
    gen.bit_generator.state = state
    _rng["gen"] = gen


