"""Exercises on normalisation layers: batch normalisation (training mode) and layer normalisation."""

from __future__ import annotations

from .exercise import Case, Exercise, solution_source
from .grader import batch_sum, sign, variant

BATCHNORM_SOURCE = solution_source("batchnorm")

_BN_DX = "dx = r / N * (N * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))"
_LN_DX = "dx = r / D * (D * dxhat - dxhat.sum(axis=1, keepdims=True) - xhat * (dxhat * xhat).sum(axis=1, keepdims=True))"


def _norm_cases(rng):
    cases = []
    for _ in range(3):
        n, d = int(rng.integers(3, 7)), int(rng.integers(3, 6))
        x = rng.normal(rng.normal(0, 2, d), rng.uniform(0.5, 2.0, d), (n, d))
        cases.append(Case({"x": x, "gamma": rng.normal(1.0, 0.5, d), "beta": rng.standard_normal(d)},
                          ("x", "gamma", "beta"), {"N": n, "D": d}))
    return cases


def _constant_statistics(dx_line):
    return variant("constant-statistics", [(((dx_line, "dx = dxhat * r"),),
                                            "{tensor} treats the mean and the variance as constants: they are "
                                            "computed from x, so dx also flows through them")])


BATCHNORM = Exercise(
    "batchnorm", "batch normalisation, training mode: dx, dgamma, dbeta", BATCHNORM_SOURCE,
    "batchnorm_forward", "batchnorm_backward", _norm_cases,
    mistakes=(
        batch_sum(("dgamma = (dout * xhat).sum(axis=0)", "dgamma = dout * xhat")),
        _constant_statistics(_BN_DX),
        variant("variance-path", [(((_BN_DX, "dx = r / N * (N * dxhat - dxhat.sum(axis=0))"),),
                                   "{tensor} has the paths through x̂ and the mean but not the one through the "
                                   "variance: add −(r/N) x̂ Σ_n dx̂_n x̂_n")]),
        sign(("dxhat = dout * gamma", "dxhat = -dout * gamma")),
    ))

LAYERNORM_SOURCE = solution_source("layernorm")

LAYERNORM = Exercise(
    "layernorm", "layer normalisation over each sample's features: dx, dgamma, dbeta", LAYERNORM_SOURCE,
    "layernorm_forward", "layernorm_backward", _norm_cases,
    mistakes=(
        batch_sum(("dbeta = dout.sum(axis=0)", "dbeta = dout")),
        _constant_statistics(_LN_DX),
        variant("batch-axis", [(((_LN_DX, _BN_DX.replace("N", "D")), ("D = dout.shape[1]", "D = dout.shape[0]")),
                                "{tensor} sums over the batch (axis 0) as batch normalisation does: layer "
                                "normalisation's statistics are per sample, so the sums run over its D features "
                                "(axis 1)")]),
        sign(("dxhat = dout * gamma", "dxhat = -dout * gamma")),
    ))
