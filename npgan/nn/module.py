"""The base classes every layer builds on: ``Parameter`` and ``Layer``.

Contract of a layer (cs231n's forward/backward pairs, made objects):

* ``forward(x, training=None) -> y`` computes the output and keeps in
  ``self._cache`` exactly what ``backward`` needs, nothing more.
* ``backward(grad_out) -> grad_in`` takes dL/dy (same shape as y), returns
  dL/dx (same shape as x) and **adds** dL/dθ into each ``Parameter.grad``.
  Adding rather than overwriting is what lets a discriminator's pass on real
  data and its pass on fake data sum into one gradient; ``zero_grad()`` clears.
* A ``Parameter`` or a sublayer assigned to an attribute is registered by the
  assignment itself (``self.weight = Parameter(...)``), as in PyTorch and DeZero:
  ``parameters()``, ``state_dict()``, the optimisers and the gradient checker all
  see it, and no list of names can forget one. Saved arrays that are not trained
  (BatchNorm's running statistics) are registered with ``register_buffer``.
* Training or evaluation mode: a layer is in training mode once built, as in
  PyTorch; ``eval()`` / ``train()`` switch a layer and all its sublayers, and
  ``forward(x)`` uses that mode. ``forward(x, training=False)`` overrides it for
  one call. Only BatchNorm (batch statistics, and their running averages) and
  Dropout behave differently. npgan's own inference paths (``Trainer.sample``,
  the evaluators, the classifier's features) always pass ``training=False``.
* ``requires_grad = False`` (``frozen(layer)``) makes ``backward`` return dL/dx
  and skip dL/dθ: the generator's update needs the gradient *through* the
  discriminator, not the discriminator's own weight gradients.
* ``input_grad = False`` (``data_input(layer)``) lets ``backward`` skip dL/dx
  and return ``None``: a network's first layers, when its input is data (real
  images, or fakes whose generator is not being trained), need not compute the
  gradient nobody will use. Every layer honours it.
* ``double_backward(ggx, grad_out) -> (gg_out, gx)``, the second-order pass that a
  gradient penalty needs (``npgan.gan.penalties``). After ``forward(x)`` and
  ``backward(grad_out)`` computed dx = dL/dx, a scalar P depends on dx; ``ggx`` is
  dP/d(dx), shaped like x. The layer returns ``gg_out`` = dP/d(grad_out), shaped like
  y, and ``gx`` = dP/dx through the backward pass's own dependence on x (``None`` when
  that is zero, as for every layer linear in x), and **adds** dP/dθ through the backward
  pass's dependence on θ into ``.grad``. Because dx is linear in grad_out,
  dx = J(x)^T grad_out, gg_out is the forward-mode derivative J(x) ggx. ``Sequential``
  chains these and then backpropagates the gx terms down its forward path.
  ``second_order_refusal()`` says why a layer has no such pass (None where it has one).
"""

from __future__ import annotations

import contextlib

from .. import backend as B
from ..io import load_npz, save_npz

_SECOND_PASS = []  # non-empty inside a second-order pass, which reuses each forward pass's cache


@contextlib.contextmanager
def second_pass():
    """Within the block, a layer's backward may run again on its last forward pass's cache
    (``double_backward`` and the gradient checker need that; training never does)."""
    _SECOND_PASS.append(True)
    try:
        yield
    finally:
        _SECOND_PASS.pop()


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
    """Base class: registration of parameters, buffers and sublayers; modes; input checks;
    (de)serialisation."""

    requires_grad = True  # False: backward skips the parameter gradients (see ``frozen``)
    input_grad = True     # False: backward may skip dL/dx and return None (see ``data_input``)

    def __init__(self):
        self._cache = None
        self.training = True

    # -- registration on assignment -------------------------------------------
    def _registry(self) -> dict:
        d = self.__dict__
        if "_parameters" not in d:  # also before a subclass has called Layer.__init__
            d["_parameters"], d["_buffer_names"], d["_children"] = {}, [], {}
        return d

    def __setattr__(self, name, value):
        d = self.__dict__
        if name == "_cache":  # a new forward pass: its backward may run once
            d["_used"] = False
        registered = name in d.get("_parameters", ()) or name in d.get("_children", ())
        if registered or isinstance(value, (Parameter, Layer)):  # plain attributes skip this
            reg = self._registry()
            reg["_parameters"].pop(name, None)
            reg["_children"].pop(name, None)
            if isinstance(value, Parameter):
                reg["_parameters"][name] = value
            elif isinstance(value, Layer):
                reg["_children"][name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, array) -> None:
        """Keep ``array`` as attribute ``name``: saved and loaded with the parameters, never trained.
        Later assignments to the attribute replace the array and keep it registered."""
        names = self._registry()["_buffer_names"]
        if name not in names:
            names.append(name)
        setattr(self, name, array)

    def add_layer(self, name: str, layer: "Layer") -> None:
        """Register ``layer`` as the sublayer ``name`` (containers use it for numbered children)."""
        if not isinstance(layer, Layer):
            raise TypeError(f"{type(self).__name__}: {name!r} is {type(layer).__name__}, not a Layer")
        self._registry()["_children"][name] = layer

    def children(self) -> list:
        """The directly registered sublayers, in the order they were registered."""
        return list(self._registry()["_children"].values())

    # -- to be provided by each layer ---------------------------------------
    def forward(self, x, training=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, grad_out):  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, x, training=None):
        return self.forward(x, training=training)

    # -- modes -------------------------------------------------------------------
    def train(self, mode: bool = True) -> "Layer":
        """Training mode (``mode=True``) or evaluation mode for this layer and its sublayers."""
        self.training = bool(mode)
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> "Layer":
        """Evaluation mode: BatchNorm uses its running statistics, Dropout is the identity."""
        return self.train(False)

    def _mode(self, training) -> bool:
        """The mode of one forward call: ``training`` when given, else the layer's own."""
        return self.training if training is None else bool(training)

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
        """What forward kept for backward; a clear error if forward has not run, or if its
        backward already ran (it would add the parameter gradients a second time)."""
        if self._cache is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        if self.__dict__.get("_used") and not _SECOND_PASS:
            raise RuntimeError(f"{self!r}: backward called a second time for one forward pass (the "
                               f"parameter gradients would be added twice); run forward again first")
        self.__dict__["_used"] = True
        return self._cache

    def _forward_cache(self):
        """What the last forward pass kept, for a second-order pass (which may follow its backward)."""
        if self._cache is None:
            raise RuntimeError(f"{self!r}: double_backward called before forward")
        return self._cache

    def _check_grad(self, grad_out, shape):
        B.check_array(grad_out, repr(self) + ".backward", dtype=self._dtype())
        if tuple(grad_out.shape) != tuple(shape):
            raise ValueError(
                f"{self!r}.backward: expected grad_out of shape {tuple(shape)} (the output's), "
                f"received {tuple(grad_out.shape)}"
            )

    def _dtype(self):
        """The dtype of this layer's first parameter (None without parameters)."""
        own = self.__dict__.get("_parameters")
        if own:  # the common case, a leaf with parameters: no walk over sublayers
            return next(iter(own.values())).data.dtype
        ps = self.parameters()
        return ps[0].data.dtype if ps else None

    # -- parameters and buffers --------------------------------------------------
    def named_parameters(self, prefix: str = "") -> list:
        """``[(dotted name, Parameter), ...]``: this layer's, then each sublayer's."""
        out = [(prefix + n, p) for n, p in self._registry()["_parameters"].items()]
        for name, child in self._registry()["_children"].items():
            out.extend(child.named_parameters(f"{prefix}{name}."))
        return out

    def named_buffers(self, prefix: str = "") -> list:
        """``[(dotted name, array), ...]``: this layer's buffers, then each sublayer's."""
        out = [(prefix + n, getattr(self, n)) for n in self._registry()["_buffer_names"]]
        for name, child in self._registry()["_children"].items():
            out.extend(child.named_buffers(f"{prefix}{name}."))
        return out

    def set_buffer(self, name: str, array) -> None:
        """Replace the buffer with dotted ``name`` (as ``named_buffers`` lists it)."""
        owner, _, attr = name.rpartition(".")
        layer = self
        for part in owner.split(".") if owner else ():
            layer = layer._registry()["_children"][part]
        if attr not in layer._registry()["_buffer_names"]:
            raise KeyError(f"{type(self).__name__}: no buffer {name!r}")
        setattr(layer, attr, array)

    def parameters(self) -> list:
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def requires_grad_(self, flag: bool = True) -> "Layer":
        """Switch the parameter gradients of this layer and its sublayers on or off."""
        self.requires_grad = bool(flag)
        for child in self.children():
            child.requires_grad_(flag)
        return self

    # -- second order (gradient penalties) ------------------------------------------
    def double_backward(self, ggx, grad_out):  # pragma: no cover - refused before it is called
        raise NotImplementedError(f"{self!r}: {self.second_order_refusal()}")

    def second_order_refusal(self):
        """None when this layer has a second-order pass, else why not (a gradient penalty
        checks every layer of a critic before it computes anything)."""
        if type(self).double_backward is Layer.double_backward:
            return f"{type(self).__name__} has no second-order pass (double_backward)"
        return None

    def _check_second(self, ggx, grad_out, x_shape, y_shape) -> None:
        B.check_array(ggx, repr(self) + ".double_backward")
        if tuple(ggx.shape) != tuple(x_shape) or tuple(grad_out.shape) != tuple(y_shape):
            raise ValueError(f"{self!r}.double_backward: expected ggx of the input's shape "
                             f"{tuple(x_shape)} and grad_out of the output's {tuple(y_shape)}, "
                             f"received {tuple(ggx.shape)} and {tuple(grad_out.shape)}")

    def _input_side(self) -> list:
        """The layers whose dL/dx serves only the gradient of this layer's input: for a
        single layer, itself (``data_input`` uses it)."""
        return [self]

    # -- state -----------------------------------------------------------------
    def state_dict(self) -> dict:
        """Copies of the parameters and buffers as host NumPy arrays, keyed by dotted names.

        A snapshot: later training does not change it."""
        out = {name: B.to_numpy(p.data, copy=True) for name, p in self.named_parameters()}
        out.update({name: B.to_numpy(a, copy=True) for name, a in self.named_buffers()})
        return out

    def load_state_dict(self, state: dict) -> None:
        """Copy arrays from ``state`` into this layer (any backend in, current backend out).

        Every key must be present with the right shape, and no key may be left
        over; otherwise a ``KeyError``/``ValueError`` names the key and nothing
        is changed. Parameters and buffers keep their dtype.
        """
        params = dict(self.named_parameters())
        buffers = dict(self.named_buffers())
        current = {**{k: p.data for k, p in params.items()}, **buffers}
        missing = sorted(set(current) - set(state))
        extra = sorted(set(state) - set(current))
        if missing:
            raise KeyError(f"{type(self).__name__}.load_state_dict: missing key {missing[0]!r}")
        if extra:
            raise KeyError(f"{type(self).__name__}.load_state_dict: unexpected key {extra[0]!r}")
        for name in sorted(current):
            got = tuple(state[name].shape)
            if got != tuple(current[name].shape):
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict: key {name!r} expects shape "
                    f"{tuple(current[name].shape)}, received {got}"
                )
        for name, p in params.items():
            p.data = B.asarray(state[name], dtype=p.data.dtype, copy=True)
            p.grad = B.get_backend().zeros_like(p.data)
        for name, old in buffers.items():
            self.set_buffer(name, B.asarray(state[name], dtype=old.dtype, copy=True))

    def save(self, path) -> str:
        """Write ``state_dict()`` to an ``.npz`` file atomically (temp file, then rename)."""
        return save_npz(path, self.state_dict())

    def load(self, path) -> "Layer":
        """Restore this layer from a file written by ``save`` (on either backend); returns it."""
        self.load_state_dict(load_npz(path))
        return self

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
def record_backward(layer: Layer):
    """Within the block, every container in ``layer`` keeps the dL/dy each of its layers
    receives in ``backward``, so that ``double_backward`` can follow; dropped after it."""
    stack, containers = [layer], []
    while stack:
        node = stack.pop()
        if hasattr(type(node), "_recording"):
            containers.append(node)
        stack.extend(node.children())
    for c in containers:
        c._recording, c._grad_outs = True, None
    try:
        yield layer
    finally:
        for c in containers:
            c._recording, c._grad_outs = False, None


@contextlib.contextmanager
def data_input(layer: Layer):
    """Within the block, ``layer.backward`` skips dL/dx (its input is data, so nobody
    needs it) and returns ``None``.

    In a Sequential, every layer up to and including the first one with parameters skips
    it: a Flatten in front of a Dense (an MLP discriminator on images) would only reshape
    the Dense layer's input gradient into the network's, so the Dense layer need not
    compute it. The layers after it still pass their gradients down."""
    skipping = layer._input_side()
    before = [s.input_grad for s in skipping]
    for s in skipping:
        s.input_grad = False
    try:
        yield layer
    finally:
        for s, b in zip(skipping, before):
            s.input_grad = b
