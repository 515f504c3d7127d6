"""A layer's state: its parameters and buffers as host arrays, in memory and in ``.npz`` files."""

from __future__ import annotations

from .. import backend as B
from ..io import load_npz, save_npz


def state_dict(layer) -> dict:
    """Copies of `layer`'s parameters and buffers as host NumPy arrays, keyed by dotted names.

    A snapshot: later training does not change it."""
    out = {name: B.to_numpy(p.data, copy=True) for name, p in layer.named_parameters()}
    out.update({name: B.to_numpy(a, copy=True) for name, a in layer.named_buffers()})
    return out


def load_state_dict(layer, state: dict) -> None:
    """Copy arrays from `state` into `layer` (any backend in, current backend out).

    Every key must be present with the right shape, and no key may be left over; otherwise a
    `KeyError`/`ValueError` names the key and nothing is changed. Parameters and buffers keep
    their dtype."""
    name = type(layer).__name__
    params = dict(layer.named_parameters())
    buffers = dict(layer.named_buffers())
    current = {**{k: p.data for k, p in params.items()}, **buffers}
    missing = sorted(set(current) - set(state))
    extra = sorted(set(state) - set(current))
    if missing:
        raise KeyError(f"{name}.load_state_dict: missing key {missing[0]!r}")
    if extra:
        raise KeyError(f"{name}.load_state_dict: unexpected key {extra[0]!r}")
    for key in sorted(current):
        got = tuple(state[key].shape)
        if got != tuple(current[key].shape):
            raise ValueError(f"{name}.load_state_dict: key {key!r} expects shape "
                             f"{tuple(current[key].shape)}, received {got}")
    for key, p in params.items():
        p.data = B.asarray(state[key], dtype=p.data.dtype, copy=True)
        p.grad = B.get_backend().zeros_like(p.data)
    for key, old in buffers.items():
        layer.set_buffer(key, B.asarray(state[key], dtype=old.dtype, copy=True))


def save(layer, path) -> str:
    """Write `state_dict(layer)` to an ``.npz`` file atomically (temp file, then rename)."""
    return save_npz(path, state_dict(layer))


def load(layer, path):
    """Restore `layer` from a file written by `save` (on either backend); returns it."""
    load_state_dict(layer, load_npz(path))
    return layer
