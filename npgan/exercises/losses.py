"""Exercises on losses: the discriminator's sigmoid cross-entropy and the generator's non-saturating loss."""

from __future__ import annotations

from .exercise import Case, Exercise
from .grader import scale, sign, variant

SIGMOID_CROSS_ENTROPY_SOURCE = '''"""Exercise sigmoid_cross_entropy: a discriminator's loss on its logits, and its gradient.

Forward (given): the mean binary cross-entropy of σ(a) against targets t, for logits a,

    ℓ(a, t) = −t log σ(a) − (1 − t) log(1 − σ(a)),      L = (1/N) Σ_n ℓ(a_n, t_n)

    logits   (N, 1)  a, one per sample: the discriminator's output before the sigmoid
    targets  (N, 1)  t in [0, 1]: 1 for real samples, 0 for fakes (0.9 with label smoothing)
    loss     a number, L; N is the number of logits

Written as it stands, log σ(a) overflows for large −a. With softplus(u) = log(1 + exp(u)),
log σ(a) = −softplus(−a) and log(1 − σ(a)) = −softplus(a), which gives the stable form the
forward computes:

    ℓ(a, t) = max(a, 0) − a t + log(1 + exp(−|a|))

Backward (yours): return dlogits = ∂L/∂a, of the logits' shape. Differentiate ℓ(a, t) in the
first form (softplus'(u) = σ(u)), and do not forget the mean.

Write sigmoid_cross_entropy_backward between the markers, then grade it (from this file's folder):

    npgan exercise check sigmoid_cross_entropy sigmoid_cross_entropy.py
"""

import numpy as np


def sigmoid_cross_entropy_forward(logits, targets):
    """L = mean over the logits of ℓ(a, t); returns (loss, cache)."""
    a, t = logits, targets
    loss = np.mean(np.maximum(a, 0) - a * t + np.log1p(np.exp(-np.abs(a))))
    cache = (logits, targets)
    return loss, cache


def sigmoid_cross_entropy_backward(cache):
    """Given the forward's cache, return dlogits = dL/dlogits."""
    logits, targets = cache
    N = logits.size
    # --- your code: compute and return dlogits ---
    sig = 1.0 / (1.0 + np.exp(-logits))
    dlogits = (sig - targets) / N     # dℓ/da = σ(a) − t, and L is a mean over N logits
    return dlogits
    # --- end of your code ---
'''


def _logit_cases(rng, targets: bool):
    cases = []
    for k in range(3):
        n = int(rng.integers(3, 8))
        args = {"logits": rng.normal(0.0, 2.0, (n, 1))}
        if targets:  # hard labels, then soft ones (label smoothing), then a mix
            t = [rng.integers(0, 2, (n, 1)).astype(float), rng.uniform(0.0, 1.0, (n, 1)),
                 rng.choice([0.0, 0.9, 1.0], (n, 1))][k]
            args["targets"] = t
        cases.append(Case(args, ("logits",), {"N": n}))
    return cases


def _missing_mean(*example):
    return scale("missing-1/N", lambda s: s["N"],
                 "{tensor} is N = {N} times the right gradient: the loss is a mean over the N logits, so each "
                 "logit's gradient carries a factor 1/N", *example)


SIGMOID_CROSS_ENTROPY = Exercise(
    "sigmoid_cross_entropy", "a discriminator's loss: mean binary cross-entropy of sigmoid(logits): dlogits",
    SIGMOID_CROSS_ENTROPY_SOURCE, "sigmoid_cross_entropy_forward", "sigmoid_cross_entropy_backward",
    lambda rng: _logit_cases(rng, targets=True), loss=True,
    mistakes=(
        sign(("(sig - targets)", "(targets - sig)")),
        _missing_mean(("dlogits = (sig - targets) / N", "dlogits = sig - targets")),
        variant("no-target", [((("(sig - targets) / N", "sig / N"),),
                               "{tensor} leaves the targets out: dℓ/da = σ(a) − t")]),
    ))

NON_SATURATING_SOURCE = '''"""Exercise non_saturating: the generator's non-saturating loss on the discriminator's logits.

Forward (given): the generator wants D to call its fakes real. The minimax game has it minimise
mean log(1 − σ(a)), whose gradient vanishes when D confidently rejects the fakes (a ≪ 0), early in
training; the non-saturating loss maximises log σ(a) instead (Goodfellow et al. 2014):

    L = −(1/N) Σ_n log σ(a_n) = (1/N) Σ_n softplus(−a_n),    softplus(u) = log(1 + exp(u))

    logits   (N, 1)  a, D's logits on N generated samples
    loss     a number, L; N is the number of logits

computed stably as softplus(−a) = max(−a, 0) + log(1 + exp(−|a|)).

Backward (yours): return dlogits = ∂L/∂a, of the logits' shape (the generator's backward pass
starts from it, through D). Use d/da log σ(a) = 1 − σ(a), and do not forget the mean.

Write non_saturating_backward between the markers, then grade it (from this file's folder):

    npgan exercise check non_saturating non_saturating.py
"""

import numpy as np


def non_saturating_forward(logits):
    """L = -mean log sigmoid(logits); returns (loss, cache)."""
    loss = np.mean(np.maximum(-logits, 0) + np.log1p(np.exp(-np.abs(logits))))
    cache = logits
    return loss, cache


def non_saturating_backward(cache):
    """Given the forward's cache, return dlogits = dL/dlogits."""
    logits = cache
    N = logits.size
    # --- your code: compute and return dlogits ---
    sig = 1.0 / (1.0 + np.exp(-logits))
    dlogits = -(1.0 - sig) / N        # d/da (−log σ(a)) = −(1 − σ(a)), and L is a mean over N logits
    return dlogits
    # --- end of your code ---
'''

NON_SATURATING = Exercise(
    "non_saturating", "the generator's non-saturating loss -mean log sigmoid(logits): dlogits",
    NON_SATURATING_SOURCE, "non_saturating_forward", "non_saturating_backward",
    lambda rng: _logit_cases(rng, targets=False), loss=True,
    mistakes=(
        sign(("dlogits = -(1.0 - sig) / N", "dlogits = (1.0 - sig) / N")),
        _missing_mean(("dlogits = -(1.0 - sig) / N", "dlogits = -(1.0 - sig)")),
        variant("saturating", [((("-(1.0 - sig) / N", "-sig / N"),),
                                "{tensor} is the gradient of the saturating (minimax) loss mean log(1 − σ(a)), "
                                "−σ(a)/N; the non-saturating −log σ(a) has derivative −(1 − σ(a))")]),
    ))
