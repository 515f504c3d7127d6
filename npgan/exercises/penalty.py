"""The WGAN-GP exercise: the gradient penalty's gradient with respect to a small critic's parameters, by double backprop."""

from __future__ import annotations

from .exercise import Case, Exercise, solution_source
from .grader import scale, sign, variant

WGAN_GP_SOURCE = solution_source("wgan_gp")


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
