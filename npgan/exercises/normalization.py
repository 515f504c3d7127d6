"""Exercises on normalisation layers: batch normalisation (training mode) and layer normalisation."""

from __future__ import annotations

from .exercise import Case, Exercise
from .grader import batch_sum, sign, variant

BATCHNORM_SOURCE = '''"""Exercise batchnorm: the backward pass of batch normalisation in training mode.

Forward (given): each feature is normalised with the mean and variance of the batch, then scaled
and shifted:

    μ = (1/N) Σ_n x_n,   σ² = (1/N) Σ_n (x_n − μ)²,   r = 1 / √(σ² + eps)
    x̂_n = (x_n − μ) r,   out_n = γ x̂_n + β

    x          (N, D)   N samples of D features; μ, σ², r are (D,), one per feature
    gamma (γ)  (D,)     the scale
    beta  (β)  (D,)     the shift
    out        (N, D)

Backward (yours): given dout = ∂L/∂out (N, D), return dx (N, D), dgamma (D,), dbeta (D,).
In training mode μ and σ² are functions of the whole batch: every x_n reaches every out_m
through them, so dx has three paths, direct through x̂_n, through μ, and through σ² (which itself
depends on μ). Collapse them into one formula per feature with Σ_n x̂_n = 0 and
Σ_n x̂_n² = N σ² r² (≈ N).

Write batchnorm_backward between the markers, then grade it (from this file's folder):

    npgan exercise check batchnorm batchnorm.py
"""

import numpy as np


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """Training-mode batch normalisation over axis 0; returns (out, cache)."""
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    r = 1.0 / np.sqrt(var + eps)
    xhat = (x - mu) * r
    out = gamma * xhat + beta
    cache = (xhat, r, gamma)
    return out, cache


def batchnorm_backward(dout, cache):
    """Given dout (N, D) and the forward's cache, return (dx, dgamma, dbeta)."""
    xhat, r, gamma = cache
    N = dout.shape[0]
    # --- your code: compute and return dx, dgamma and dbeta ---
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    # x̂_n = (x_n − μ) r: the direct path gives r dx̂_n; through μ, −(r/N) Σ_m dx̂_m; through σ²,
    # ∂r/∂σ² = −r³/2 and ∂σ²/∂x_n = 2 (x_n − μ)/N give −(r/N) x̂_n Σ_m dx̂_m x̂_m
    dx = r / N * (N * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
    return dx, dgamma, dbeta
    # --- end of your code ---
'''

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

LAYERNORM_SOURCE = '''"""Exercise layernorm: the backward pass of layer normalisation.

Forward (given): each sample is normalised with the mean and variance of its own features, then
scaled and shifted per feature:

    μ_n = (1/D) Σ_d x_nd,   σ²_n = (1/D) Σ_d (x_nd − μ_n)²,   r_n = 1 / √(σ²_n + eps)
    x̂_nd = (x_nd − μ_n) r_n,   out_nd = γ_d x̂_nd + β_d

    x          (N, D)   N samples of D features; μ, σ², r are (N, 1), one per sample
    gamma (γ)  (D,)     the scale
    beta  (β)  (D,)     the shift
    out        (N, D)

Unlike batch normalisation, no sample depends on another (which is why WGAN-GP critics use it).

Backward (yours): given dout = ∂L/∂out (N, D), return dx (N, D), dgamma (D,), dbeta (D,).
Within a sample, each x_nd reaches every out_nd' through μ_n and σ²_n: dx has a direct path
through x̂ and paths through the statistics, summed over the sample's features.

Write layernorm_backward between the markers, then grade it (from this file's folder):

    npgan exercise check layernorm layernorm.py
"""

import numpy as np


def layernorm_forward(x, gamma, beta, eps=1e-5):
    """Layer normalisation over axis 1; returns (out, cache)."""
    mu = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    r = 1.0 / np.sqrt(var + eps)
    xhat = (x - mu) * r
    out = gamma * xhat + beta
    cache = (xhat, r, gamma)
    return out, cache


def layernorm_backward(dout, cache):
    """Given dout (N, D) and the forward's cache, return (dx, dgamma, dbeta)."""
    xhat, r, gamma = cache
    D = dout.shape[1]
    # --- your code: compute and return dx, dgamma and dbeta ---
    dbeta = dout.sum(axis=0)                  # gamma and beta are shared by the N samples
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    # batch normalisation's formula, with the statistics' sums over a sample's D features (axis 1)
    dx = r / D * (D * dxhat - dxhat.sum(axis=1, keepdims=True) - xhat * (dxhat * xhat).sum(axis=1, keepdims=True))
    return dx, dgamma, dbeta
    # --- end of your code ---
'''

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
