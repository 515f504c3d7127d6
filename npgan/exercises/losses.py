"""Exercises on losses: the discriminator's sigmoid cross-entropy and the generator's non-saturating loss."""

from __future__ import annotations

from .exercise import Case, Exercise, solution_source
from .grader import scale, sign, variant

SIGMOID_CROSS_ENTROPY_SOURCE = solution_source("sigmoid_cross_entropy")


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

NON_SATURATING_SOURCE = solution_source("non_saturating")

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
