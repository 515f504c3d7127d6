"""Why practice uses the non-saturating generator loss: gradients early in training.

    python -m demos.saturation [--steps 400] [--out runs/demos/saturation]     # from the repository root

Early on the discriminator rejects the fakes confidently: D(G(z)) -> 0. Write
D = sigmoid(a) for the logit a. The paper's generator loss log(1 - D(G(z)))
has dL/da = -D(G(z)), which vanishes there: G barely learns when it is worst.
The non-saturating loss -log D(G(z)) has dL/da = D(G(z)) - 1 ~ -1: a strong
signal exactly then. Both losses have the same fixed point.

Three panels in ``saturation_sgd.png`` (``saturation_adam.png`` with --optimizer adam):

* left, analytic: both losses and |dL/da| against D(G(z));
* right, measured: two GANs trained from the *same* initialisation on
  N(4, 0.5^2), the generator starting far away (around -2) and k = 5 D steps per
  G step, so D wins early as in practice. Plotted per step: the norm of G's
  gradient and where its samples are, for each loss. With SGD (the paper's
  optimiser) the minimax generator stalls; with Adam the gap in gradient norm is
  the same but Adam divides each step by the gradient's running RMS, which
  largely hides it: run both to see. The printed table gives the medians
  over the first steps and how far each G has moved towards the data.
"""

import argparse
import os

from npgan import backend as B
from npgan.data import get_dataset
from npgan.evaluation.plot import pyplot, save_figure
from npgan.gan import GANTrainer, mlp_discriminator, mlp_generator
from npgan.optim import SGD


def run(loss, steps, seed, optimizer, lr_sgd):
    B.seed(seed)
    ds = get_dataset("gauss1d")
    G, D = mlp_generator(1, 1, 32, 2), mlp_discriminator(1, 32, 2)
    G[-1].bias.data[...] = -2.0  # start far from the data at 4
    g_opt = SGD(G.parameters(), lr=lr_sgd, momentum=0.5) if optimizer == "sgd" else None
    gan = GANTrainer(G, D, 1, loss=loss, d_steps=5, lr=1e-3, g_optimizer=g_opt)
    history = []
    for _ in range(steps):
        s = gan.train_step(ds.sample(5 * 128))
        history.append((float(s["g_grad_norm"]), float(s["d_fake"]), float(B.to_numpy(gan.sample(2000)).mean())))
    return history


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/demos/saturation")
    ap.add_argument("--backend", choices=["numpy", "cupy"], help="array backend (default: the current one)")
    ap.add_argument("--optimizer", default="sgd", choices=["sgd", "adam"],
                    help="generator optimiser: SGD with momentum 0.5 as in the 2014 paper (default), "
                         "or Adam, whose per-parameter scaling largely hides the small gradients")
    ap.add_argument("--lr-sgd", type=float, default=0.01)
    args = ap.parse_args(argv)
    if args.backend:
        B.set_backend(args.backend)
    runs = {loss: run(loss, args.steps, args.seed, args.optimizer, args.lr_sgd)
            for loss in ("minimax", "non_saturating")}

    plt = pyplot()
    hp = B.host
    fig, (ax0, ax1, ax2) = plt.subplots(1, 3, figsize=(15, 3.8))
    d = hp.linspace(1e-3, 1 - 1e-3, 500)
    ax0.plot(d, hp.log(1 - d), "r-", label="minimax: log(1 − D)")
    ax0.plot(d, -hp.log(d), "b-", label="non-saturating: −log D")
    ax0.plot(d, d, "r:", label="|dL/da| minimax = D")
    ax0.plot(d, 1 - d, "b:", label="|dL/da| non-sat. = 1 − D")
    ax0.set_xlabel("D(G(z))")
    ax0.set_ylim(-5, 5)
    ax0.axvspan(0, 0.1, color="gray", alpha=0.15)
    ax0.text(0.02, -4.5, "early training", fontsize=8)
    ax0.legend(fontsize=7)
    ax0.set_title("generator losses and their slope in the logit a")
    steps = range(1, args.steps + 1)
    colors = {"minimax": "r", "non_saturating": "b"}
    for loss, hist in runs.items():
        ax1.semilogy(steps, [h[0] for h in hist], colors[loss], lw=1, label=loss)
        ax2.plot(steps, [h[2] for h in hist], colors[loss], lw=1.2, label=f"{loss}: mean of G(z)")
    ax1.set_xlabel("step")
    ax1.set_title(f"‖∇θ L_G‖, same initialisation, G trained with {args.optimizer}")
    ax1.legend(fontsize=8)
    ax2.axhline(4.0, color="k", ls="--", lw=0.8, label="data mean")
    ax2.set_xlabel("step")
    ax2.set_title("where the generator's samples are")
    ax2.legend(fontsize=8)
    os.makedirs(args.out, exist_ok=True)
    print("wrote", save_figure(fig, os.path.join(args.out, f"saturation_{args.optimizer}.png")))

    early = max(1, args.steps // 8)
    print(f"{'loss':<16}{'median |grad G|, first ' + str(early) + ' steps':>36}{'mean D(G(z))':>14}"
          f"{'mean G(z) at end':>18}")
    for loss, hist in runs.items():
        g = sorted(h[0] for h in hist[:early])[early // 2]
        dz = sum(h[1] for h in hist[:early]) / early
        print(f"{loss:<16}{g:>36.3e}{dz:>14.4f}{hist[-1][2]:>18.2f}")


if __name__ == "__main__":
    main()
