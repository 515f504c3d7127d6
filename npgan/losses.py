r"""Losses, each returning ``(value, gradient)`` so backprop starts from an explicit dL/d(input).

Sigmoid cross-entropy on logits
-------------------------------
For a logit x and a (possibly soft) target t in [0, 1], with s = sigmoid(x)::

    l(x, t) = -[t log s + (1 - t) log(1 - s)]

Written this way it overflows: log s = -log(1 + e^{-x}) is -inf in float32 once
e^{-x} overflows. Using log s = -softplus(-x) and log(1 - s) = -softplus(x), and
softplus(x) = max(x, 0) + log(1 + e^{-|x|}), gives the stable form used here::

    l(x, t) = max(x, 0) - x t + log(1 + exp(-|x|))

which never exponentiates a positive number. Its derivative is simply::

    dl/dx = sigmoid(x) - t

The loss is the mean over all M elements, so the returned gradient is
(sigmoid(x) - t) / M. This is how a GAN's value function is evaluated:
with D = sigmoid(logit), -log D(x) = l(logit, 1) and -log(1 - D(G(z))) = l(logit, 0).
"""

from __future__ import annotations

from . import backend as B
from .nn.activations import sigmoid


def _check_pair(logits, targets, where):
    B.check_array(logits, where)
    if logits.dtype.kind != "f":
        raise B.BackendMismatchError(f"{where}: expected floating-point logits, received "
                                     f"dtype {logits.dtype.name}")
    if logits.size == 0:
        raise ValueError(f"{where}: received empty logits")
    xp = B.get_backend()
    if isinstance(targets, (int, float)):
        return xp.full(logits.shape, targets, dtype=logits.dtype)
    B.check_array(targets, where + " (targets)")
    if tuple(targets.shape) != tuple(logits.shape):
        raise ValueError(f"{where}: targets must have the logits' shape {tuple(logits.shape)}, "
                         f"received {tuple(targets.shape)}")
    return targets.astype(logits.dtype, copy=False)


def softplus(x):
    """log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|))."""
    xp = B.get_backend()
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


def sigmoid_cross_entropy(logits, targets):
    """Mean binary cross-entropy of ``sigmoid(logits)`` against ``targets``.

    ``targets`` is an array of the logits' shape with values in [0, 1] (soft
    targets such as 0.9 allowed, for label smoothing) or a single number used
    for every element. Returns ``(loss, grad_logits)``: a Python float and
    dL/dlogits, an array of the logits' shape. Finite for |logits| up to 1e4
    and beyond.
    """
    t = _check_pair(logits, targets, "sigmoid_cross_entropy")
    xp = B.get_backend()
    m = logits.size
    per_element = xp.maximum(logits, 0) - logits * t + xp.log1p(xp.exp(-xp.abs(logits)))
    loss = float(per_element.sum()) / m
    grad = (sigmoid(logits) - t) / m
    return loss, grad
