"""The base classes every layer builds on: ``Parameter`` and ``Layer``.

Contract of a layer (cs231n's forward/backward pairs, made objects):

* ``forward(x, training=True) -> y`` computes the output and keeps in
  ``self._cache`` exactly what ``backward`` needs, nothing more.
* ``backward(grad_out) -> grad_in`` takes dL/dy (same shape as y), returns
  dL/dx (same shape as x) and **adds** dL/dθ into each ``Parameter.grad``.
  Adding rather than overwriting is what lets a discriminator's pass on real
  data and its pass on fake data sum into one gradient; ``zero_grad()`` clears.
* ``parameters()`` lists the trainable ``Parameter`` objects; ``buffers()``
  lists non-trained state that must be saved (BatchNorm's running statistics).
* ``requires_grad = False`` (``frozen(layer)``) makes ``backward`` return dL/dx
  and skip dL/dθ: the generator's update needs the gradient *through* the
  discriminator, not the discriminator's own weight gradients.
* ``input_grad = False`` (``data_input(layer)``) lets ``backward`` skip dL/dx
  and return ``None``: a network's first layer, when its input is data (real
  images, or fakes whose generator is not being trained), need not compute the
  gradient nobody will use. Dense and the convolutions honour it; other
  layers compute dL/dx anyway.
"""

from __future__ import annotations

import contextlib

from .. import backend as B
from ..io import load_npz, save_npz


class Parameter:
    """A trainable array with its gradient: ``.data``, ``.grad`` (same shape), ``.name``."""

    __slots__ = ("data", "grad", "name")

    def __init__(self, data, name: str):
        self.data = data
        self.grad = B.get_backend().zeros_like(data)
        self.name = name

    @property
    def shape(self):
        return self.data.shape

    def zero_grad(self) -> None:
        self.grad.fill(0)

    def __repr__(self) -> str:
        return f"Parameter({self.name}, shape={tuple(self.data.shape)}, dtype={self.data.dtype})"


class Layer:
    """Base class: parameter bookkeeping, input checks and (de)serialisation."""

    _params: tuple = ()   # attribute names holding Parameters
    _buffers: tuple = ()  # attribute names holding saved, non-trained arrays
    requires_grad = True  # False: backward skips the parameter gradients (see ``frozen``)
    input_grad = True     # False: backward may skip dL/dx and return None (see ``data_input``)

    def __init__(self):
        self._cache = None

    # -- to be provided by each layer ---------------------------------------
    def forward(self, x, training: bool = True):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, grad_out):  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, x, training: bool = True):
        return self.forward(x, training=training)

    # -- checks ----------------------------------------------------------------
    def _check_input(self, x, ndim=None, channels=None, features=None):
        """Refuse a wrong backend, dtype, rank or channel count before computing anything."""
        dtype = self._dtype()
        if dtype is None:
            B.check_array(x, repr(self), ndim=ndim)
            if x.dtype.kind != "f":
                raise B.BackendMismatchError(
                    f"{self!r}: expected a floating-point input, received dtype {x.dtype.name}"
                )
        else:
            B.check_array(x, repr(self), dtype=dtype, ndim=ndim)
        if channels is not None and x.shape[1] != channels:
            raise ValueError(
                f"{self!r}: expected input shape (N, {channels}, H, W), received {tuple(x.shape)}"
            )
        if features is not None and x.shape[-1] != features:
            raise ValueError(
                f"{self!r}: expected input shape (N, {features}), received {tuple(x.shape)}"
            )

    def _cached(self):
        """What forward kept for backward; a clear error if forward has not run."""
        if self._cache is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        return self._cache

    def _check_grad(self, grad_out, shape):
        B.check_array(grad_out, repr(self) + ".backward")
        if tuple(grad_out.shape) != tuple(shape):
            raise ValueError(
                f"{self!r}.backward: expected grad_out of shape {tuple(shape)} (the output's), "
                f"received {tuple(grad_out.shape)}"
            )

    def _dtype(self):
        ps = self.parameters()
        return ps[0].data.dtype if ps else None

    # -- parameters ------------------------------------------------------------
    def named_parameters(self, prefix: str = ""):
        return [(prefix + n, getattr(self, n)) for n in self._params]

    def named_buffers(self, prefix: str = ""):
        return [(prefix + n, n, self) for n in self._buffers]

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def requires_grad_(self, flag: bool = True) -> "Layer":
        """Switch the parameter gradients of this layer (and its sublayers) on or off."""
        self.requires_grad = bool(flag)
        return self

    # -- state -----------------------------------------------------------------
    def state_dict(self) -> dict:
        """Copies of the parameters and buffers as host NumPy arrays, keyed by dotted names.

        A snapshot: later training does not change it."""
        out = {name: B.to_numpy(p.data, copy=True) for name, p in self.named_parameters()}
        for name, attr, owner in self.named_buffers():
            out[name] = B.to_numpy(getattr(owner, attr), copy=True)
        return out

    def load_state_dict(self, state: dict) -> None:
        """Copy arrays from ``state`` into this layer (any backend in, current backend out).

        Every key must be present with the right shape, and no key may be left
        over; otherwise a ``KeyError``/``ValueError`` names the key and nothing
        is changed.
        """
        params = dict(self.named_parameters())
        buffers = {name: (owner, attr) for name, attr, owner in self.named_buffers()}
        expected = set(params) | set(buffers)
        missing = sorted(expected - set(state))
        extra = sorted(set(state) - expected)
        if missing:
            raise KeyError(f"{type(self).__name__}.load_state_dict: missing key {missing[0]!r}")
        if extra:
            raise KeyError(f"{type(self).__name__}.load_state_dict: unexpected key {extra[0]!r}")
        for name in sorted(expected):
            current = params[name].data if name in params else getattr(*buffers[name])
            got = tuple(state[name].shape)
            if got != tuple(current.shape):
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict: key {name!r} expects shape "
                    f"{tuple(current.shape)}, received {got}"
                )
        for name in sorted(expected):
            if name in params:
                p = params[name]
                p.data = B.asarray(state[name], dtype=p.data.dtype, copy=True)
                p.grad = B.get_backend().zeros_like(p.data)
            else:
                owner, attr = buffers[name]
                old = getattr(owner, attr)
                setattr(owner, attr, B.asarray(state[name], dtype=old.dtype, copy=True))

    def save(self, path) -> str:
        """Write ``state_dict()`` to an ``.npz`` file atomically (temp file, then rename)."""
        return save_npz(path, self.state_dict())

    def load(self, path) -> None:
        """Load a file written by ``save`` (on either backend) into this layer."""
        self.load_state_dict(load_npz(path))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@contextlib.contextmanager
def frozen(layer: Layer):
    """Within the block, ``layer.backward`` computes input gradients only (its ``.grad`` is left as is)."""
    before = layer.requires_grad
    layer.requires_grad_(False)
    try:
        yield layer
    finally:
        layer.requires_grad_(before)


@contextlib.contextmanager
def data_input(layer: Layer):
    """Within the block, ``layer.backward`` may skip dL/dx (its input is data, so nobody
    needs it) and return ``None``. For a Sequential the first layer skips it; the rest
    still pass their gradients down to it."""
    first = layer
    while getattr(first, "layers", None):  # a container: its first layer sees the input
        first = first.layers[0]
    before = first.input_grad
    first.input_grad = False
    try:
        yield layer
    finally:
        first.input_grad = before
