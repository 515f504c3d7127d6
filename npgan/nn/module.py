"""The base classes every layer builds on: ``Parameter`` and ``Layer``, the contract of a layer.

Contract of a layer (cs231n's forward/backward pairs, made objects). A layer writes its math
in three methods, and ``Layer`` runs the checks and the cache around them:

* ``_forward(x, training) -> (y, cache)``: the output, and exactly what the backward pass
  needs, nothing more. ``forward(x, training=None)`` first checks x (backend, dtype, and what
  ``_input_spec()`` asks: rank, channels, features) and resolves the mode, then calls it and
  keeps the cache for one backward pass.
* ``_backward(grad_out, cache) -> grad_in``: takes dL/dy and returns dL/dx, and **adds**
  dL/dθ into each ``Parameter.grad``. Adding rather than overwriting is what lets a
  discriminator's pass on real data and its pass on fake data sum into one gradient;
  ``zero_grad()`` clears. ``backward(grad_out)`` first checks that grad_out has the output's
  shape and that the forward pass's cache is there and unused (a second backward would add
  the parameter gradients twice).
* ``_double_backward(ggx, grad_out, cache) -> (gg_out, gx)``: the second-order pass a gradient
  penalty needs (``npgan.nn.second_order`` states it). A layer defines it, or sets it to
  ``None`` (then penalties refuse the layer by name); a subclass with its own ``_forward``
  never inherits it silently.

A class that defines ``_forward`` must define ``_backward`` too (checked when the class is
created). Containers (``Sequential``) and wrappers (``SpectralNorm``) compose other layers
and override ``forward``/``backward``/``double_backward`` themselves.

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
  and skip dL/dθ; ``input_grad = False`` (``data_input(layer)``) lets it skip dL/dx
  and return ``None``. A layer with parameters reads both flags in ``_backward``; for a
  layer without, ``backward`` returns ``None`` without calling it.
"""

from __future__ import annotations

from .. import backend as B
from . import second_order, state


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
    """Base class: the forward/backward template, registration of parameters, buffers and
    sublayers, modes, input checks and state."""

    requires_grad = True      # False: backward skips the parameter gradients (see ``frozen``)
    input_grad = True         # False: backward may skip dL/dx and return None (see ``data_input``)
    records_backward = False  # True for containers that keep each layer's dL/dy (``record_backward``)
    second_order_hook = "_double_backward"  # the method that makes a second-order pass (see ``second_order``)

    def __init__(self):
        self._cache = None
        self.training = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "_forward" in cls.__dict__ and "_backward" not in cls.__dict__:
            raise TypeError(f"{cls.__name__} defines _forward but not _backward: a new forward pass "
                            f"needs its own backward pass")

    # -- the template: checks and cache around the layer's own math ------------------------
    def forward(self, x, training=None):
        """y = f(x): checks x, runs ``_forward`` in the resolved mode, keeps its cache."""
        self._check_input(x, **self._input_spec())
        y, cache = self._forward(x, self.training if training is None else bool(training))
        d = self.__dict__  # plain attributes: set directly, past the registration in __setattr__
        d["_cache"], d["_used"], d["_shapes"] = cache, False, (x.shape, y.shape)
        return y

    def backward(self, grad_out):
        """dL/dx from dL/dy (checked against the output's shape); adds dL/dθ into ``.grad``."""
        cache = self._cached()
        self._check_grad(grad_out, self._shapes[1])
        if not self.input_grad and not (self.requires_grad and self.__dict__.get("_parameters")):
            return None  # nothing to compute
        return self._backward(grad_out, cache)

    def double_backward(self, ggx, grad_out):
        """(dP/d grad_out, dP/dx) from dP/d(dL/dx): see ``npgan.nn.second_order``."""
        reason = self.second_order_refusal()
        if reason is not None:
            raise NotImplementedError(f"{self!r}: {reason}")
        cache = self._forward_cache()
        self._check_second(ggx, grad_out, *self._shapes)
        return self._double_backward(ggx, grad_out, cache)

    def __call__(self, x, training=None):
        return self.forward(x, training=training)

    def _input_spec(self) -> dict:
        """What ``forward`` checks of x beyond backend and dtype: ``ndim``, ``channels``
        (x.shape[1]) or ``features`` (x.shape[-1]). Nothing by default."""
        return {}

    _double_backward = None  # a layer's second-order pass, where it has one

    @classmethod
    def example(cls):
        """(a small instance, an input shape it accepts): what the generic contract tests run
        every layer class on (gradients, second order, flags, state). A layer whose
        constructor needs arguments defines its own."""
        return cls(), (2, 3, 4, 4)

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
            B.check_array(x, self.__repr__, ndim=ndim)
            if x.dtype.kind != "f":
                raise B.BackendMismatchError(
                    f"{self!r}: expected a floating-point input, received dtype {x.dtype.name}"
                )
        else:
            B.check_array(x, self.__repr__, dtype=dtype, ndim=ndim)
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
        if self.__dict__.get("_used") and not second_order.in_second_pass():
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
        B.check_array(grad_out, lambda: repr(self) + ".backward", dtype=self._dtype())
        if grad_out.shape != shape:
            raise ValueError(
                f"{self!r}.backward: expected grad_out of shape {tuple(shape)} (the output's), "
                f"received {tuple(grad_out.shape)}"
            )

    def _dtype(self):
        """The dtype of this layer's first parameter (None without parameters)."""
        own = self.__dict__.get("_parameters")
        if own:  # the common case, a leaf with parameters: no walk over sublayers
            return next(iter(own.values())).data.dtype
        if not self.__dict__.get("_children"):  # a leaf without parameters (an activation)
            return None
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
    def second_order_refusal(self):
        """None when this layer has a second-order pass, else why not (a gradient penalty
        checks every layer of a critic before it computes anything; see ``second_order``)."""
        return second_order.refusal(self)

    def start_recording(self) -> None:  # pragma: no cover - containers (records_backward) define it
        raise NotImplementedError

    def stop_recording(self) -> None:  # pragma: no cover - containers (records_backward) define it
        raise NotImplementedError

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

    # -- state (``npgan.nn.state``) -----------------------------------------------------
    def state_dict(self) -> dict:
        """Copies of the parameters and buffers as host NumPy arrays, keyed by dotted names."""
        return state.state_dict(self)

    def load_state_dict(self, arrays: dict) -> None:
        """Copy arrays into this layer; every key present with its shape, or nothing changes."""
        state.load_state_dict(self, arrays)

    def save(self, path) -> str:
        """Write ``state_dict()`` to an ``.npz`` file atomically."""
        return state.save(self, path)

    def load(self, path) -> "Layer":
        """Restore this layer from a file written by ``save``; returns it."""
        return state.load(self, path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
