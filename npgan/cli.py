"""Command line: ``npgan train | sample | evaluate | train-classifier`` (also ``python -m npgan``).

Bad input (an unknown data set, a negative step count, an unreadable
checkpoint, a backend that is not available) ends with one line on stderr,
``npgan: error: ...``, and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import backend as B
from .data import ImageData, is_image


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not usage + message
        self.exit(2, f"npgan: error: {message}\n")


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _parser():
    ap = _Parser(prog="npgan", description="Train and sample GANs built from scratch.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--backend", choices=["numpy", "cupy"], default=None,
                        help="array backend (default: $NPGAN_BACKEND or numpy)")
    sub = ap.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", parents=[common], help="train a generator on a built-in data set")
    t.add_argument("--data", help="ring8 (default), grid25, gauss1d, bimodal1d or fashion-mnist")
    t.add_argument("--out", help="run directory (checkpoint, metrics.jsonl, PNGs)")
    t.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its checkpoint")
    t.add_argument("--trainer", choices=["gan", "mmd"], help="adversarial (default) or direct MMD")
    t.add_argument("--steps", type=_positive_int, help="total training steps (default 12000)")
    t.add_argument("--seed", type=int)
    t.add_argument("--loss", choices=["non_saturating", "minimax"], help="generator loss")
    t.add_argument("--d-steps", type=_positive_int, help="discriminator steps per generator step (k)")
    t.add_argument("--pack", type=_positive_int, help="PacGAN packing degree m")
    t.add_argument("--label-smoothing", type=float, help="one-sided: real targets 1 - s")
    t.add_argument("--bandwidths", type=float, nargs="+", metavar="S",
                   help="mmd trainer: Gaussian kernel bandwidths (default 0.02 0.05 0.1 0.2 0.5 1 2 5)")
    t.add_argument("--noise", choices=["normal", "uniform"])
    t.add_argument("--batch-size", type=_positive_int)
    t.add_argument("--lr", type=float)
    t.add_argument("--betas", type=float, nargs=2, metavar=("B1", "B2"),
                   help="Adam's betas (default 0.5 0.999)")
    t.add_argument("--lr-decay", choices=["linear", "none"])
    t.add_argument("--model", choices=["mlp", "dcgan"], help="network family (dcgan: 28x28 images)")
    t.add_argument("--latent-dim", type=_positive_int)
    t.add_argument("--hidden", type=_positive_int, help="mlp width")
    t.add_argument("--depth", type=_positive_int, help="mlp hidden layers")
    t.add_argument("--g-batchnorm", action="store_const", const=True, default=None,
                   help="mlp generator: BatchNorm after each hidden Dense layer")
    t.add_argument("--width", type=_positive_int, help="dcgan base channel count (default 64)")
    t.add_argument("--data-dir", help="image sets: folder with the IDX files "
                                      "(default: $NPGAN_FASHION_MNIST or the Debian package's)")
    t.add_argument("--classifier", help="image sets: classifier file for the Frechet distance "
                                        "(default: the one npgan train-classifier writes)")
    t.add_argument("--log-every", type=_positive_int)
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    s = sub.add_parser("sample", parents=[common], help="draw samples from a checkpoint into a .npy file")
    s.add_argument("checkpoint")
    s.add_argument("-n", type=_positive_int, default=2500)
    s.add_argument("-o", "--output", default="samples.npy",
                   help=".npy for the arrays; .png for an image grid (image models)")
    s.add_argument("--seed", type=int, default=0)

    e = sub.add_parser("evaluate", parents=[common], help="print a checkpoint's sample metrics as JSON")
    e.add_argument("checkpoint")
    e.add_argument("-n", type=_positive_int, default=2500)
    e.add_argument("--seed", type=int, default=0)

    c = sub.add_parser("train-classifier", parents=[common],
                       help="train the Fashion-MNIST classifier behind the Frechet distance")
    c.add_argument("--out", help="weights file (default: ~/.cache/npgan/fashion-mnist-classifier.npz, "
                                 "or under $NPGAN_HOME)")
    c.add_argument("--data-dir", help="folder with the Fashion-MNIST IDX files")
    c.add_argument("--epochs", type=_positive_int, default=2)
    c.add_argument("--batch-size", type=_positive_int, default=128)
    c.add_argument("--lr", type=float, default=1e-3)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
    return ap


_TRAIN_KEYS = ("data", "trainer", "steps", "seed", "loss", "d_steps", "pack", "label_smoothing",
               "bandwidths", "noise", "batch_size", "lr", "betas", "lr_decay", "model", "latent_dim",
               "hidden", "depth", "g_batchnorm", "width", "log_every", "data_dir", "classifier")


def _train(args):
    from .gan.base import read_config
    from .gan.runner import make_config, train
    if args.resume:
        out = args.resume
        cfg = read_config(f"{out}/checkpoint.npz")
        if args.steps:
            cfg["steps"] = args.steps
        cfg = make_config(**cfg)
    else:
        if not args.out:
            raise ValueError("train needs --out DIR (or --resume DIR)")
        out = args.out
        cfg = make_config(**{k: getattr(args, k) for k in _TRAIN_KEYS})
    final = train(cfg, out, resume=bool(args.resume), progress=not args.no_progress,
                  log=lambda msg: print(msg, file=sys.stderr))
    print(json.dumps(final))
    extra = f", {out}/grids/" if is_image(cfg["data"]) else ""
    if os.path.exists(f"{out}/latent_map.png"):
        extra += f", {out}/latent_map.png"
    print(f"wrote {out}/checkpoint.npz, {out}/metrics.jsonl, {out}/samples.png, {out}/losses.png{extra}")


def _sample(args):
    from .gan.runner import load_run
    from .io import save_npy
    trainer, _, _ = load_run(args.checkpoint)
    B.seed(args.seed)
    x = trainer.sample(args.n)
    if args.output.lower().endswith(".png"):
        if x.ndim != 4:
            raise ValueError(f"a .png grid needs image samples; this checkpoint draws shape {tuple(x.shape)}")
        from .plot import plot_image_grid
        plot_image_grid(x, args.output, title=f"{args.checkpoint}, step {trainer.step}")
    else:
        save_npy(args.output, B.to_numpy(x))
    print(f"wrote {args.n} samples to {args.output}")


def _evaluate(args):
    from .gan.runner import load_run
    from .metrics import evaluate
    trainer, ds, cfg = load_run(args.checkpoint)
    B.seed(args.seed)
    if isinstance(ds, ImageData):
        from .classifier import Classifier, default_path
        clf = Classifier.load(cfg.get("classifier") or default_path())
        result = clf.evaluate(trainer.sample(args.n))
        result["fd_real"] = clf.real_floor(ds, args.n)
    else:
        result = evaluate(trainer.sample(args.n), ds, n_mmd=args.n)
    print(json.dumps({"checkpoint": args.checkpoint, "step": trainer.step, **result}))


def _train_classifier(args):
    from . import classifier
    from .data import fashion_mnist
    train_data, test_data = fashion_mnist("train", args.data_dir), fashion_mnist("test", args.data_dir)
    clf = classifier.train(train_data, test_data, epochs=args.epochs, batch_size=args.batch_size,
                           lr=args.lr, seed=args.seed, progress=not args.no_progress)
    path = clf.save(args.out or classifier.default_path())
    print(json.dumps(clf.info))
    print(f"wrote {path}")


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    B.keep_freed_memory()  # each training step reuses the memory the last one freed (opt-out: env)
    try:
        if args.backend:
            B.set_backend(args.backend)
        {"train": _train, "sample": _sample, "evaluate": _evaluate,
         "train-classifier": _train_classifier}[args.command](args)
    except (ValueError, KeyError, OSError, RuntimeError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"npgan: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("npgan: interrupted (the last checkpoint is intact; continue with --resume)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
