"""Exercises on single layers: a dense layer and the activations (ReLU, leaky ReLU, sigmoid)."""

from __future__ import annotations

from .exercise import Case, Exercise
from .grader import batch_sum, scale, sign, transpose, variant

DENSE_SOURCE = '''"""Exercise dense: the backward pass of a fully connected layer.

Forward (given): out = x W + b, one row per sample of a batch of N,

    x    (N, D)    the inputs
    W    (D, M)    the weights
    b    (M,)      the bias, added to every row
    out  (N, M)    out[n, m] = Σ_d x[n, d] W[d, m] + b[m]

Backward (yours): given dout = ∂L/∂out, of out's shape, return

    dx = ∂L/∂x  (N, D),    dW = ∂L/∂W  (D, M),    db = ∂L/∂b  (M,)

by the chain rule, ∂L/∂W[d, m] = Σ_n ∂L/∂out[n, m] · ∂out[n, m]/∂W[d, m], and likewise for x and b.
Each gradient has the shape of what it is the gradient of: a first check. b is shared by all N
samples: its gradient gathers a contribution from each.

Write dense_backward between the markers, then grade it (from this file's folder):

    npgan exercise check dense dense.py
"""

import numpy as np


def dense_forward(x, W, b):
    """out = x W + b; returns (out, cache)."""
    out = x @ W + b
    cache = (x, W)
    return out, cache


def dense_backward(dout, cache):
    """Given dout (N, M) and the forward's cache, return (dx, dW, db)."""
    x, W = cache
    # --- your code: compute and return dx, dW and db ---
    dx = dout @ W.T                 # Σ_m dout[n, m] W[d, m]
    dW = x.T @ dout                 # Σ_n x[n, d] dout[n, m]
    db = np.sum(dout, axis=0)       # Σ_n dout[n, m]: every sample adds b
    return dx, dW, db
    # --- end of your code ---
'''


def _dense_cases(rng):
    cases = []
    for _ in range(3):
        n, d, m = rng.integers(2, 6, size=3)
        x, w, b = rng.standard_normal((n, d)), rng.standard_normal((d, m)), rng.standard_normal(m)
        cases.append(Case({"x": x, "W": w, "b": b}, ("x", "W", "b"), {"N": int(n)}))
    return cases


DENSE = Exercise(
    "dense", "fully connected layer out = x W + b: dx, dW, db", DENSE_SOURCE, "dense_forward", "dense_backward",
    _dense_cases,
    mistakes=(
        transpose(("dW = x.T @ dout", "dW = dout.T @ x")),
        batch_sum(("db = np.sum(dout, axis=0)", "db = dout")),
        sign(("dx = dout @ W.T", "dx = -dout @ W.T")),
        scale("stray-1/N", lambda s: 1 / s["N"],
              "{tensor} is the right gradient divided by N = {N}, the batch size: out = x W + b has no mean over "
              "the batch (a loss's 1/N is in dout already)", ("dW = x.T @ dout", "dW = x.T @ dout / len(x)")),
    ))


def _elementwise_cases(rng, extra=None):
    """x with no entry within 0.1 of 0, where ReLU's kink would spoil the central difference."""
    cases = []
    for _ in range(3):
        n, d = rng.integers(2, 6, size=2)
        x = rng.uniform(0.1, 2.0, (n, d)) * rng.choice([-1.0, 1.0], (n, d))
        args = {"x": x, **(extra(rng) if extra else {})}
        cases.append(Case(args, ("x",), {"N": int(n)}))
    return cases


def _chain_rule(line, local):
    return variant("chain-rule", [(((line, local),),
                                   "{tensor} is the local derivative alone: multiply it by dout, the gradient that "
                                   "arrives from above (chain rule: dL/dx = dL/dout · dout/dx)")])


RELU_SOURCE = '''"""Exercise relu: the backward pass of the rectified linear unit.

Forward (given): out = max(0, x), elementwise,

    x    any shape, e.g. (N, D)
    out  x's shape

Backward (yours): given dout = ∂L/∂out, of x's shape, return dx = ∂L/∂x, of x's shape. Each
out[k] depends on x[k] alone, so dx[k] = dout[k] · ∂out[k]/∂x[k]: work out that derivative on
each side of 0 (the kink at 0 itself is never hit by the checks).

Write relu_backward between the markers, then grade it (from this file's folder):

    npgan exercise check relu relu.py
"""

import numpy as np


def relu_forward(x):
    """out = max(0, x); returns (out, cache)."""
    out = np.maximum(0, x)
    cache = x
    return out, cache


def relu_backward(dout, cache):
    """Given dout (x's shape) and the forward's cache, return dx."""
    x = cache
    # --- your code: compute and return dx ---
    dx = dout * (x > 0)             # slope 1 where x > 0, 0 elsewhere
    return dx
    # --- end of your code ---
'''

RELU = Exercise(
    "relu", "rectified linear unit out = max(0, x): dx", RELU_SOURCE, "relu_forward", "relu_backward",
    _elementwise_cases,
    mistakes=(
        _chain_rule("dx = dout * (x > 0)", "dx = (x > 0) * 1.0"),
        sign(("dx = dout * (x > 0)", "dx = -dout * (x > 0)")),
        variant("mask", [((("(x > 0)", "(x < 0)"),),
                          "{tensor} lets the gradient through where x < 0 and stops it where x > 0: the mask is "
                          "inverted (ReLU's slope is 1 for positive inputs)")]),
    ))

LEAKY_RELU_SOURCE = '''"""Exercise leaky_relu: the backward pass of the leaky ReLU.

Forward (given): out = x where x > 0, alpha · x elsewhere, elementwise,

    x      any shape, e.g. (N, D)
    alpha  a number, the slope for negative inputs (0.2 in many GANs' discriminators)
    out    x's shape

Backward (yours): given dout = ∂L/∂out, of x's shape, return dx = ∂L/∂x, of x's shape. Each
out[k] depends on x[k] alone: dx[k] = dout[k] · ∂out[k]/∂x[k], a slope that depends on the side
of 0 that x[k] is on. alpha is a setting, not a parameter: no gradient for it.

Write leaky_relu_backward between the markers, then grade it (from this file's folder):

    npgan exercise check leaky_relu leaky_relu.py
"""

import numpy as np


def leaky_relu_forward(x, alpha=0.2):
    """out = x if x > 0 else alpha x; returns (out, cache)."""
    out = np.where(x > 0, x, alpha * x)
    cache = (x, alpha)
    return out, cache


def leaky_relu_backward(dout, cache):
    """Given dout (x's shape) and the forward's cache, return dx."""
    x, alpha = cache
    # --- your code: compute and return dx ---
    dx = dout * np.where(x > 0, 1.0, alpha)     # slope 1 on the right of 0, alpha on the left
    return dx
    # --- end of your code ---
'''

LEAKY_RELU = Exercise(
    "leaky_relu", "leaky ReLU out = x if x > 0 else alpha x: dx", LEAKY_RELU_SOURCE,
    "leaky_relu_forward", "leaky_relu_backward",
    lambda rng: _elementwise_cases(rng, lambda r: {"alpha": float(r.choice([0.01, 0.2, 0.3]))}),
    mistakes=(
        _chain_rule("dx = dout * np.where(x > 0, 1.0, alpha)", "dx = np.where(x > 0, 1.0, alpha)"),
        sign(("dx = dout * np.where", "dx = -dout * np.where")),
        variant("slope-side", [((("np.where(x > 0, 1.0, alpha)", "np.where(x > 0, alpha, 1.0)"),),
                                "{tensor} has the slopes swapped: 1 belongs to x > 0 and alpha to x < 0")]),
        variant("no-slope", [((("np.where(x > 0, 1.0, alpha)", "np.where(x > 0, 1.0, 0.0)"),),
                              "{tensor} is ReLU's gradient: for x < 0 the slope is alpha, not 0")]),
    ))

SIGMOID_SOURCE = '''"""Exercise sigmoid: the backward pass of the logistic sigmoid.

Forward (given): out = σ(x) = 1 / (1 + exp(−x)), elementwise,

    x    any shape, e.g. (N, D)
    out  x's shape, in (0, 1)

Backward (yours): given dout = ∂L/∂out, of x's shape, return dx = ∂L/∂x, of x's shape. Each
out[k] depends on x[k] alone, so dx[k] = dout[k] · σ'(x[k]). Differentiate 1 / (1 + exp(−x)) and
write σ'(x) in terms of σ(x) itself: the forward's output is in the cache.

Write sigmoid_backward between the markers, then grade it (from this file's folder):

    npgan exercise check sigmoid sigmoid.py
"""

import numpy as np


def sigmoid_forward(x):
    """out = 1 / (1 + exp(-x)); returns (out, cache)."""
    out = 1.0 / (1.0 + np.exp(-x))
    cache = (x, out)
    return out, cache


def sigmoid_backward(dout, cache):
    """Given dout (x's shape) and the forward's cache, return dx."""
    x, out = cache
    # --- your code: compute and return dx ---
    dx = dout * out * (1.0 - out)   # σ'(x) = exp(−x) / (1 + exp(−x))² = σ(x) (1 − σ(x))
    return dx
    # --- end of your code ---
'''

SIGMOID = Exercise(
    "sigmoid", "logistic sigmoid out = 1 / (1 + exp(-x)): dx", SIGMOID_SOURCE, "sigmoid_forward", "sigmoid_backward",
    _elementwise_cases,
    mistakes=(
        _chain_rule("dx = dout * out * (1.0 - out)", "dx = out * (1.0 - out)"),
        sign(("dx = dout * out", "dx = -dout * out")),
        variant("input-for-output", [((("out * (1.0 - out)", "x * (1.0 - x)"),),
                                      "{tensor} uses x where σ(x) belongs: σ'(x) = σ(x) (1 − σ(x)) is written with "
                                      "the output out = σ(x), not the input")]),
    ))
