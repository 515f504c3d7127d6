"""Each GAN loss is a divergence: read it off a trained discriminator, compare with the integral.

    python -m demos.divergences [--steps 1500] [--out runs/demos/divergences] [--quick]     # from the repository root

For data p_data and a *fixed* p_g, a discriminator trained alone to convergence makes D's
loss an affine function of a divergence between the two (each loss's docstring in
``npgan.gan.losses`` derives it; ``GANLoss.divergence_from`` inverts the map):

* the cross-entropy game (non-saturating / minimax): L_D* = log 4 - 2 JSD  (Theorem 1 of
  Goodfellow et al. 2014);
* least squares (a = 0, b = 1): L_D* = (1 - chi2(p_data || m)) / 4, m = (p_data + p_g) / 2;
* hinge: L_D* = 2 - 2 TV;
* Wasserstein with a gradient penalty (lambda 10): L_D* ~ -W_1.

Two things the Wasserstein column shows. The penalty is soft: for a shift between two
Gaussians the best penalised critic has slope 1 + mu / (2 lambda) (it maximises
k mu - lambda (k - 1)^2), so the estimate is W_1 (1 + mu / (2 lambda)), above the line
(dashed). And the penalty here is the one-sided max(0, ||grad f|| - 1)^2: with the
two-sided (||grad f|| - 1)^2 the critic for the two-mode pair settles at a linear
solution of slope 1, below W_1, because bending it into the |x|-shaped optimum passes
through slope 0, which the two-sided penalty charges lambda for.

Two pairs: p_data = N(0, 1) against p_g = N(mu, 1), and a non-Gaussian pair, p_data the
two-mode mixture 1/2 N(-1.5, 0.5^2) + 1/2 N(1.5, 0.5^2) against p_g = N(mu, 1). For each loss
and several mu it trains a fresh MLP D (1 -> 64 -> 64 -> 1, LeakyReLU 0.2, Adam 2e-3 decayed
to 0) on fresh batches of 512 from each distribution, evaluates L_D on 100,000 fresh
samples, and plots the divergence read off it against its value by numerical integration.
Writes ``divergences.png`` and ``divergences.md`` (the table).
"""

from __future__ import annotations

import argparse
import os

from npgan import backend as B
from npgan.evaluation.plot import pyplot, save_figure
from npgan.gan import make_loss
from npgan.gan.models import mlp_discriminator
from npgan.gan.penalties import gradient_penalty
from npgan.io import atomic_write
from npgan.optim import Adam
from npgan.training import fit

LOSSES = ("non_saturating", "least_squares", "hinge", "wasserstein")
GP = {"wasserstein": 10.0}  # the critic of the Wasserstein loss is kept near 1-Lipschitz
SYMBOL = {"non_saturating": "JSD", "least_squares": "chi2(p_data || m)", "hinge": "TV",
          "wasserstein": "W1"}


# ----------------------------------------------------------------------- the distributions
def gaussian(mean, std):
    return {"sample": lambda n: B.normal((n, 1), mean, std),
            "pdf": lambda x: B.host.exp(-0.5 * ((x - mean) / std) ** 2) / (std * (2 * B.host.pi) ** 0.5)}


def two_modes():
    a, b = gaussian(-1.5, 0.5), gaussian(1.5, 0.5)

    def sample(n):
        pick = B.asarray(B.integers(0, 2, (n, 1)), dtype=B.get_dtype())
        return pick * a["sample"](n) + (1 - pick) * b["sample"](n)

    return {"sample": sample, "pdf": lambda x: 0.5 * (a["pdf"](x) + b["pdf"](x))}


PAIRS = {"N(0, 1) vs N(mu, 1)": lambda mu: (gaussian(0.0, 1.0), gaussian(mu, 1.0)),
         "two modes vs N(mu, 1)": lambda mu: (two_modes(), gaussian(mu, 1.0))}


def exact(loss_name: str, pd, pg) -> float:
    """The divergence by numerical integration on a fine grid."""
    h = B.host
    x = h.linspace(-15.0, 20.0, 200_001)
    dx = x[1] - x[0]
    p, q = pd["pdf"](x), pg["pdf"](x)
    m = 0.5 * (p + q)
    if loss_name == "non_saturating":
        kl = lambda a: h.sum(h.where(a > 0, a * h.log(h.where(a > 0, a, 1) / h.where(m > 0, m, 1)), 0)) * dx  # noqa: E731
        return float(0.5 * kl(p) + 0.5 * kl(q))
    if loss_name == "least_squares":
        return float(h.sum(h.where(m > 0, (p - m) ** 2 / h.where(m > 0, m, 1), 0)) * dx)
    if loss_name == "hinge":
        return float(0.5 * h.sum(h.abs(p - q)) * dx)
    return float(h.sum(h.abs(h.cumsum(p - q) * dx)) * dx)  # W1 = int |F_p - F_q| in 1-D


# ----------------------------------------------------------------------- the trained D
def d_loss(loss, D, real, fake) -> float:
    real_term, _ = loss.discriminator_real(D.forward(real, training=False))
    fake_term, _ = loss.discriminator_fake(D.forward(fake, training=False))
    return float(real_term + fake_term)


def train_d(loss_name: str, pd, pg, steps: int, batch: int = 512):
    loss, D = make_loss(loss_name), mlp_discriminator(1, 64, 2)
    opt, gp = Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999)), GP.get(loss_name, 0.0)

    def step(_):
        real, fake = pd["sample"](batch), pg["sample"](batch)
        D.zero_grad()
        for x, term in ((real, loss.discriminator_real), (fake, loss.discriminator_fake)):
            D.backward(term(D.forward(x))[1])
        if gp:  # one-sided: see the module docstring
            e = B.uniform((batch, 1))
            gradient_penalty(D, e * real + (1 - e) * fake, target=1.0, weight=gp, one_sided=True)
        opt.step()
        return {}

    fit(step, [opt], lr=2e-3, total=steps)
    return loss, D


def estimate(loss_name: str, pair: str, mu: float, steps: int, seed: int = 0, n_eval: int = 100_000):
    """(divergence read off a D trained for ``steps`` steps, the same by integration)."""
    B.seed(seed)
    pd, pg = PAIRS[pair](mu)
    loss, D = train_d(loss_name, pd, pg, steps)
    value = d_loss(loss, D, pd["sample"](n_eval), pg["sample"](n_eval))
    return loss.divergence_from(value), exact(loss_name, pd, pg)


# ----------------------------------------------------------------------- figure and table
def run(args):
    mus = [0.0, 1.0, 2.0, 3.0] if args.quick else [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    results = {}
    for pair in PAIRS:
        for name in LOSSES:
            for mu in mus:
                results[(pair, name, mu)] = estimate(name, pair, mu, args.steps)
                est, ex = results[(pair, name, mu)]
                print(f"{pair:22} {name:15} mu {mu:3.1f}: {SYMBOL[name]} read off D {est:7.4f}, "
                      f"integral {ex:7.4f}", flush=True)
    return mus, results


def plot(mus, results, out):
    plt = pyplot()
    fig, axes = plt.subplots(len(PAIRS), len(LOSSES), figsize=(4 * len(LOSSES), 3.3 * len(PAIRS)), squeeze=False)
    fine = [i * 0.05 for i in range(int(max(mus) / 0.05) + 1)]
    for row, pair in enumerate(PAIRS):
        for col, name in enumerate(LOSSES):
            ax = axes[row][col]
            ax.plot(fine, [exact(name, *PAIRS[pair](m)) for m in fine], "k-", lw=1.2, label="integral")
            if name in GP and pair.startswith("N(0, 1)"):  # the soft penalty's optimum for a shift
                ax.plot(fine, [m * (1 + m / (2 * GP[name])) for m in fine], "k--", lw=0.8,
                        label="W1 (1 + mu / (2 lambda))")
                ax.legend(fontsize=7, loc="upper left")
            ax.plot(mus, [results[(pair, name, m)][0] for m in mus], "o", color="tab:red",
                    label="read off trained D")
            ax.set_title(f"{name}: {SYMBOL[name]}", fontsize=10)
            ax.set_xlabel("mu (p_g = N(mu, 1))")
            if col == 0:
                ax.set_ylabel(pair)
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Each GAN loss at its trained discriminator is a divergence between p_data and p_g", y=1.01)
    fig.tight_layout()
    return save_figure(fig, os.path.join(out, "divergences.png"))


def table(mus, results, out) -> str:
    lines = ["| pair | loss | divergence | " + " | ".join(f"mu {m:g}" for m in mus) + " |",
             "|---|---|---|" + "---|" * len(mus)]
    for pair in PAIRS:
        for name in LOSSES:
            cells = " | ".join(f"{results[(pair, name, m)][0]:.3f} ({results[(pair, name, m)][1]:.3f})"
                               for m in mus)
            lines.append(f"| {pair} | {name} | {SYMBOL[name]} | {cells} |")
    path = os.path.join(out, "divergences.md")
    with atomic_write(path, "w") as f:
        f.write("read off the trained D (by integration)\n\n" + "\n".join(lines) + "\n")
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=1500, help="discriminator steps per estimate")
    ap.add_argument("--out", default="runs/demos/divergences")
    ap.add_argument("--quick", action="store_true", help="four values of mu (for the tests)")
    ap.add_argument("--backend", choices=["numpy", "cupy"], help="array backend (default: the current one)")
    args = ap.parse_args(argv)
    if args.backend:
        B.set_backend(args.backend)
    os.makedirs(args.out, exist_ok=True)
    mus, results = run(args)
    print("wrote", plot(mus, results, args.out), "and", table(mus, results, args.out))


if __name__ == "__main__":
    main()
