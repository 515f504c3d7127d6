"""The 2014 paper's figure, brought to life: a GAN learning N(4, 0.5^2) in one dimension.

    python -m demos.gaussian_1d [--steps 2000] [--d-steps 5] [--out runs/demos/gaussian_1d] [--backend cupy]

(from the repository root, where ``python -m`` finds ``demos`` and ``npgan``).

Writes two figures:

* ``stages.png``: at several stages of training, p_data (black), p_g (green, a
  histogram of 20,000 samples), the discriminator D(x) (blue) and the optimal
  discriminator for the current generator, D*(x) = p_data / (p_data + p_g)
  (purple, Proposition 1 of Goodfellow et al. 2014). As training goes on D
  tracks D*, p_g moves onto p_data, and both flatten to 1/2.
* ``transform.png``: the trained G(z) against the inverse-transform method. With
  z ~ U[-1, 1] and u = (z + 1)/2 ~ U[0, 1], F^{-1}(u) (F the CDF of p_data) is one
  exact generator; F^{-1}(1 - u) is the other monotone one. A generator network
  is a learned approximation of such a transform.
"""

import argparse
import os

from npgan import backend as B
from npgan.data import get_dataset
from npgan.evaluation.plot import pyplot, save_figure
from npgan.gan import GANTrainer, mlp_discriminator, mlp_generator
from npgan.training import fit


def snapshot(gan, ds, grid, bins):
    """p_g histogram, D(x) and D*(x) on ``grid`` (host arrays)."""
    xp = B.get_backend()
    with_rng = B.get_rng_state()
    samples = B.to_numpy(gan.sample(20000))[:, 0]
    B.set_rng_state(with_rng)
    hist, edges = B.host.histogram(samples, bins=bins, density=True)
    centers = (edges[:-1] + edges[1:]) / 2
    p_g = B.host.interp(grid, centers, hist, left=0.0, right=0.0)
    p_data = ds.density(grid)
    logits = gan.discriminator.forward(B.asarray(grid[:, None]), training=False)
    d = B.to_numpy(1 / (1 + xp.exp(-logits)))[:, 0]
    with B.host.errstate(invalid="ignore", divide="ignore"):
        d_star = B.host.where(p_data + p_g > 1e-3, p_data / (p_data + p_g), B.host.nan)
    return dict(p_g=p_g, p_data=p_data, d=d, d_star=d_star, samples=samples)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--d-steps", type=int, default=5,
                    help="k discriminator steps per generator step (Algorithm 1); k=5 keeps D near D*")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/demos/gaussian_1d")
    ap.add_argument("--backend", choices=["numpy", "cupy"], help="array backend (default: the current one)")
    args = ap.parse_args(argv)
    if args.backend:
        B.set_backend(args.backend)
    B.seed(args.seed)
    ds = get_dataset("gauss1d")
    G, D = mlp_generator(1, 1, 64, 2), mlp_discriminator(1, 64, 2)
    G[-1].bias.data[...] = 1.0  # start p_g visibly away from p_data (around 1), as in the paper's panel (a)
    gan = GANTrainer(G, D, 1, noise="uniform", lr=1e-3, d_steps=args.d_steps)

    grid = B.host.linspace(-1.0, 7.0, 400)
    bins = B.host.linspace(-1.0, 7.0, 81)
    stages = sorted({0, args.steps // 30, args.steps // 6, args.steps})
    shots = {}

    def step_fn(step):  # a snapshot before the step, at each stage
        if step in stages:
            shots[step] = snapshot(gan, ds, grid, bins)
        return gan.train_step(ds.sample(gan.rows_per_step(256)))

    fit(step_fn, gan.optimizers(), lr=1e-3, total=args.steps, progress="1-D GAN")  # lr decays to 0
    shots[args.steps] = snapshot(gan, ds, grid, bins)

    plt = pyplot()
    os.makedirs(args.out, exist_ok=True)
    fig, axes = plt.subplots(1, len(stages), figsize=(4 * len(stages), 3.4), sharey=True)
    for ax, step in zip(axes, stages):
        s = shots[step]
        ax.plot(grid, s["p_data"], "k:", lw=1.5, label="p_data")
        ax.fill_between(grid, s["p_g"], color="tab:green", alpha=0.35, label="p_g")
        ax.plot(grid, s["d"], "b--", lw=1.5, label="D(x)")
        ax.plot(grid, s["d_star"], color="purple", lw=1, alpha=0.8, label="D*(x)")
        ax.axhline(0.5, color="gray", lw=0.5)
        ax.set_title(f"step {step}")
        ax.set_xlabel("x")
        ax.set_ylim(0, 1.1)
    axes[0].legend(fontsize=8, loc="upper left")
    fig.suptitle(f"GAN on N(4, 0.5²), k = {args.d_steps}: D tracks D* = p_data / (p_data + p_g); "
                 "as p_g → p_data both go to 1/2", y=1.04)
    print("wrote", save_figure(fig, os.path.join(args.out, "stages.png")))

    z = B.host.linspace(-0.999, 0.999, 400)
    g = B.to_numpy(gan.sample(400, z=B.asarray(z[:, None])))[:, 0]
    u = (z + 1) / 2
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax1.plot(z, g, "g-", lw=2, label="learned G(z)")
    ax1.plot(z, ds.cdf_inverse(u), "k--", label="F⁻¹(u), u = (z+1)/2")
    ax1.plot(z, ds.cdf_inverse(1 - u), "k:", label="F⁻¹(1 − u)")
    ax1.set_xlabel("z ~ U[-1, 1]")
    ax1.set_ylabel("x")
    ax1.set_title("the generator as an inverse-CDF transform")
    ax1.legend(fontsize=8)
    final = shots[args.steps]["samples"]
    ax2.hist(final, bins=bins, density=True, color="tab:green", alpha=0.5, label="G(z), 20,000 samples")
    ax2.plot(grid, ds.density(grid), "k-", label="p_data")
    ref = B.host.sort(B.to_numpy(ds.sample(final.size))[:, 0])
    w1 = float(B.host.abs(B.host.sort(final) - ref).mean())  # 1-D Wasserstein distance
    ax2.set_title(f"step {args.steps}: mean {final.mean():.2f}, std {final.std():.2f} "
                  f"(target 4, 0.5); W1 = {w1:.3f}", fontsize=10)
    ax2.legend(fontsize=8)
    print("wrote", save_figure(fig, os.path.join(args.out, "transform.png")))


if __name__ == "__main__":
    main()
