"""Exercises on single layers: a dense layer and the activations (ReLU, leaky ReLU, sigmoid)."""

from __future__ import annotations

from .exercise import Case, Exercise, solution_source
from .grader import batch_sum, scale, sign, transpose, variant

DENSE_SOURCE = solution_source("dense")


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


RELU_SOURCE = solution_source("relu")

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

LEAKY_RELU_SOURCE = solution_source("leaky_relu")

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

SIGMOID_SOURCE = solution_source("sigmoid")

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
