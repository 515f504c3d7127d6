r"""The second-order protocol: what a gradient penalty needs of a layer, and who has it.

A gradient penalty $P$ depends on $\bar x = \partial L / \partial x$, the input gradient that a
backward pass computed. Differentiating $P$ runs each layer's backward pass backwards: after
`forward(x)` and `backward(grad_out)` computed $\bar x$, the layer's
`double_backward(ggx, grad_out) -> (gg_out, gx)` receives $\tilde{\bar x}$ = `ggx`
$= \partial P / \partial \bar x$ and returns

* `gg_out` $= \partial P / \partial \bar y$, shaped like y: since $\bar x = J(x)^\top \bar y$ is
  linear in $\bar y$, this is the forward-mode derivative $J(x)\, \tilde{\bar x}$;
* `gx` $= \partial P / \partial x$ through the backward pass's own dependence on x (`None`
  where that is zero, as for every layer linear in x),

and **adds** $\partial P / \partial \theta$ through the backward pass's dependence on $\theta$
into `.grad`. `Sequential.double_backward` chains these and then backpropagates the gx
terms down its forward path; it needs the $\bar y$ each layer received, which
`record_backward` keeps.

**Who has a second-order pass.** A layer declares it; nothing is inherited silently. A
layer's second-order hook (`_double_backward`, or for an activation its second derivative
`_curvature`) counts only when it is defined by the class that defines the layer's
`_forward`, or by a subclass of it: a subclass that brings its own forward pass and inherits
its parent's second derivative would claim a pass that differentiates the parent's function.
`refusal(layer)` says why a layer has no second-order pass (None where it has one), and a
penalty refuses a critic by that sentence before it computes anything.
"""

from __future__ import annotations

import contextlib

_SECOND_PASS = []  # non-empty inside a second-order pass, which reuses each forward pass's cache


@contextlib.contextmanager
def second_pass():
    """Within the block, a layer's backward may run again on its last forward pass's cache
    (`double_backward` and the gradient checker need that; training never does)."""
    _SECOND_PASS.append(True)
    try:
        yield
    finally:
        _SECOND_PASS.pop()


def in_second_pass() -> bool:
    return bool(_SECOND_PASS)


def _owner(cls, name: str):
    """The class in cls's method resolution order that defines attribute `name` (None if none)."""
    return next((c for c in cls.__mro__ if name in c.__dict__), None)


def refusal(layer):
    """Why `layer` (a leaf written with `_forward`) has no second-order pass; None where it has one."""
    cls = type(layer)
    hook = cls.second_order_hook
    forward_owner, hook_owner = _owner(cls, "_forward"), _owner(cls, hook)
    if hook_owner is None or getattr(cls, hook) is None:
        return f"{cls.__name__} has no second-order pass ({hook})"
    if forward_owner is not None and not issubclass(hook_owner, forward_owner):
        return (f"{cls.__name__} defines its own forward pass but inherits {hook} from "
                f"{hook_owner.__name__}, which differentiates {hook_owner.__name__}'s: define "
                f"{cls.__name__}.{hook}, or set {hook} = None to declare that it has none")
    return None


@contextlib.contextmanager
def record_backward(layer):
    """Within the block, every layer in `layer` that records its backward pass (a container:
    `records_backward = True`) keeps the dL/dy each of its layers receives, so that
    `double_backward` can follow; dropped after it."""
    stack, recorders = [layer], []
    while stack:
        node = stack.pop()
        if node.records_backward:
            recorders.append(node)
        stack.extend(node.children())
    for node in recorders:
        node.start_recording()
    try:
        yield layer
    finally:
        for node in recorders:
            node.stop_recording()
