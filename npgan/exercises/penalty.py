"""The WGAN-GP exercise: the gradient penalty's gradient with respect to a small critic's parameters, by double backprop."""

from __future__ import annotations

from .exercise import Case, Exercise
from .grader import scale, sign, variant

WGAN_GP_SOURCE = '''"""Exercise wgan_gp: the gradient of WGAN-GP's penalty with respect to the critic's parameters.

The critic: a 2-layer MLP with tanh, one output per sample,

    z = x W1 + b1,   h = tanh(z),   D(x) = h W2 + b2

    x   (N, D)   the points the penalty is taken at (in WGAN-GP: random mixes of real and fake samples)
    W1  (D, H),  b1 (H,),  W2 (H, 1),  b2 (1,)

Forward (given): the penalty (Gulrajani et al. 2017) on the critic's input gradients, which a
first backward pass through D computes (with ∂D/∂D = 1 for every sample):

    s = 1 − h²            (N, H)   tanh'(z)
    u = s ⊙ W2[:, 0]      (N, H)   ∂D/∂z, W2's column broadcast over the rows
    g = u W1ᵀ             (N, D)   ∂D/∂x: row n is ∇ₓD(x_n)
    ρ_n = ‖g_n‖           (N,)
    P = λ · (1/N) Σ_n (ρ_n − 1)²

Backward (yours): return (dW1, db1, dW2, db2) = ∂P/∂(W1, b1, W2, b2), each of its parameter's
shape. P depends on the parameters only through g, which is itself a backward pass: its gradient
takes a second backward pass, through the first ("double backprop"). Walk the forward's lines
above in reverse, from dP/dρ_n to dg, du, ds, dh, dz, as for any computation; two things to watch:

  * W1 is used twice, in g = u W1ᵀ and in z = x W1 + b1: its gradient is the sum of both paths;
  * b2 does not appear in g (a constant shift does not change the slope): db2 is zero.

Write wgan_gp_backward between the markers, then grade it (from this file's folder):

    npgan exercise check wgan_gp wgan_gp.py
"""

import numpy as np


def wgan_gp_forward(x, W1, b1, W2, b2, lam=10.0):
    """P = lam * mean_n (||grad_x D(x_n)|| - 1)^2; returns (P, cache)."""
    z = x @ W1 + b1
    h = np.tanh(z)
    s = 1.0 - h ** 2
    u = s * W2[:, 0]
    g = u @ W1.T
    rho = np.sqrt((g ** 2).sum(axis=1))
    penalty = lam * np.mean((rho - 1.0) ** 2)
    cache = (x, W1, W2, b2, h, s, u, g, rho, lam)
    return penalty, cache


def wgan_gp_backward(cache):
    """Given the forward's cache, return (dW1, db1, dW2, db2) = dP/d(W1, b1, W2, b2)."""
    x, W1, W2, b2, h, s, u, g, rho, lam = cache
    N = x.shape[0]
    # --- your code: compute and return dW1, db1, dW2 and db2 ---
    drho = lam * 2.0 * (rho - 1.0) / N            # P = λ/N Σ (ρ_n − 1)²
    dg = (drho / rho)[:, None] * g                # ρ_n = ‖g_n‖: ∂ρ_n/∂g_n = g_n / ρ_n
    dW1 = dg.T @ u                                # g = u W1ᵀ: W1's first path, (D, H)
    du = dg @ W1                                  # (N, H)
    dW2 = (du * s).sum(axis=0)[:, None]           # u = s ⊙ W2[:, 0], summed over the samples, (H, 1)
    ds = du * W2[:, 0]
    dh = -2.0 * h * ds                            # s = 1 − h²
    dz = dh * s                                   # h = tanh(z): tanh'(z) = 1 − h² = s
    dW1 = dW1 + x.T @ dz                          # z = x W1 + b1: W1's second path
    db1 = dz.sum(axis=0)
    db2 = np.zeros_like(b2)                       # b2 does not appear in g
    return dW1, db1, dW2, db2
    # --- end of your code ---
'''


def _critic_cases(rng):
    """Weights scaled so that the input gradients' norms lie around 1, where the penalty is tested."""
    cases = []
    for _ in range(3):
        n, d, h = int(rng.integers(3, 6)), int(rng.integers(2, 4)), int(rng.integers(3, 6))
        lam = float(rng.choice([10.0, 2.5]))
        args = {"x": rng.standard_normal((n, d)), "W1": rng.normal(0, 1 / d ** 0.5, (d, h)),
                "b1": rng.normal(0, 0.5, h), "W2": rng.normal(0, 1.5 / h ** 0.5, (h, 1)),
                "b2": rng.standard_normal(1), "lam": lam}
        cases.append(Case(args, ("W1", "b1", "W2", "b2"), {"N": n, "lam": lam}))
    return cases


WGAN_GP = Exercise(
    "wgan_gp", "WGAN-GP's penalty lam * mean(||grad_x D|| - 1)^2 for a tanh MLP critic: its parameter "
               "gradient by double backprop",
    WGAN_GP_SOURCE, "wgan_gp_forward", "wgan_gp_backward", _critic_cases, loss=True,
    mistakes=(
        sign(("drho = lam * 2.0", "drho = -lam * 2.0")),
        scale("missing-1/N", lambda s: s["N"],
              "{tensor} is N = {N} times the right gradient: the penalty is a mean over the N samples",
              ("(rho - 1.0) / N", "(rho - 1.0)")),
        scale("missing-lambda", lambda s: 1 / s["lam"],
              "{tensor} is the right gradient divided by λ = {lam}: the penalty's weight multiplies its gradient too",
              ("drho = lam * 2.0 *", "drho = 2.0 *")),
        scale("missing-2", lambda s: 0.5, "{tensor} is half the right gradient: d/dρ (ρ − 1)² = 2 (ρ − 1)",
              ("drho = lam * 2.0 *", "drho = lam *")),
        variant("one-path", [
            ((("dW1 = dW1 + x.T @ dz", "dW1 = dW1"),),
             "{tensor} has W1's path through g = u W1ᵀ only: W1 is also in z = x W1 + b1; add xᵀ dz"),
            ((("dW1 = dW1 + x.T @ dz", "dW1 = x.T @ dz"),),
             "{tensor} has W1's path through z = x W1 + b1 only: W1 is also in g = u W1ᵀ; add dgᵀ u")]),
        variant("tanh-derivative", [((("dz = dh * s", "dz = dh"),),
                                     "{tensor} skips tanh's derivative between h and z: dz = dh ⊙ (1 − h²)")]),
    ))
