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
from .data import is_image


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not usage + message
        self.exit(2, f"npgan: error: {message}\n")


MAX_SAMPLES = 10_000_000  # sample/evaluate/interpolate: a bound with a clear message, not an OOM kill


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _sample_count(text):
    v = _positive_int(text)
    if v > MAX_SAMPLES:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_SAMPLES:,} samples, got {v:,}")
    return v


def _add_train_options(t) -> None:
    """``npgan train``'s options: choices and defaults come from the library's registries."""
    from .data import names
    from .gan.base import NOISE, TRAINERS
    from .gan.config import describe_default as d
    from .gan.losses import GAN_LOSSES
    from .gan.models import D_NORMS
    from .training import LR_DECAYS
    t.add_argument("--data", choices=names(), help=f"data set (default {d('data')})")
    t.add_argument("--out", help="run directory (checkpoint, metrics.jsonl, PNGs)")
    t.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its checkpoint "
                                                   "(--steps and --log-every may change; nothing else)")
    t.add_argument("--overwrite", action="store_true",
                   help="start afresh in an --out folder that holds a run (its old outputs are removed)")
    t.add_argument("--trainer", choices=list(TRAINERS), help=f"default {d('trainer')}")
    t.add_argument("--steps", type=_positive_int, help=f"total training steps (default {d('steps')})")
    t.add_argument("--seed", type=int, help=f"seed of every random draw (default {d('seed')})")
    t.add_argument("--loss", choices=list(GAN_LOSSES), help=f"GAN loss (default {d('loss')})")
    t.add_argument("--d-steps", type=_positive_int,
                   help=f"discriminator steps per generator step, k (default {d('d_steps')})")
    t.add_argument("--pack", type=_positive_int, help=f"PacGAN packing degree m (default {d('pack')})")
    t.add_argument("--label-smoothing", type=float,
                   help=f"one-sided: real targets 1 - s (default {d('label_smoothing')})")
    t.add_argument("--gp", type=float, metavar="LAMBDA",
                   help=f"WGAN-GP: lambda * (||grad D|| - 1)^2 on interpolates (default {d('gp')})")
    t.add_argument("--r1", type=float, metavar="GAMMA",
                   help=f"R1: gamma/2 * ||grad D||^2 on real samples (default {d('r1')})")
    t.add_argument("--d-norm", choices=list(D_NORMS),
                   help="dcgan critic's normaliser; auto: layer under a penalty, else batch")
    t.add_argument("--bandwidths", type=float, nargs="+", metavar="S",
                   help=f"mmd trainer: Gaussian kernel bandwidths (default {d('bandwidths')})")
    t.add_argument("--noise", choices=list(NOISE), help=f"noise prior p_z (default {d('noise')})")
    t.add_argument("--batch-size", type=_positive_int, help=f"minibatch size (default {d('batch_size')})")
    t.add_argument("--lr", type=float, help=f"Adam's learning rate (default {d('lr')})")
    t.add_argument("--betas", type=float, nargs=2, metavar=("B1", "B2"),
                   help=f"Adam's betas (default {d('betas')})")
    t.add_argument("--lr-decay", choices=list(LR_DECAYS),
                   help=f"learning-rate schedule: linear decays to 0 at the last step (default {d('lr_decay')})")
    _add_network_options(t)


def _add_network_options(t) -> None:
    """``npgan train``'s options for the networks and the data files."""
    from .gan.config import describe_default as d
    from .gan.models import MODELS
    t.add_argument("--conditional", action="store_const", const=True, default=None,
                   help="class-conditional GAN: labels (a mixture's modes, an image set's classes) enter G and D")
    t.add_argument("--model", choices=list(MODELS),
                   help=f"network family, dcgan for 28x28 images (default {d('model')})")
    t.add_argument("--latent-dim", type=_positive_int, help=f"size of z (default {d('latent_dim')})")
    t.add_argument("--hidden", type=_positive_int, help=f"mlp width (default {d('hidden')})")
    t.add_argument("--depth", type=_positive_int, help=f"mlp hidden layers (default {d('depth')})")
    t.add_argument("--g-batchnorm", action="store_const", const=True, default=None,
                   help="mlp generator: BatchNorm after each hidden Dense layer")
    t.add_argument("--width", type=_positive_int, help=f"dcgan base channel count (default {d('width')})")
    t.add_argument("--data-dir", help="image sets: folder with the IDX files "
                                      "(default: $NPGAN_FASHION_MNIST or the Debian package's)")
    t.add_argument("--classifier", help="image sets: classifier file for the Frechet distance "
                                        "(default: the one npgan train-classifier writes)")
    t.add_argument("--log-every", type=_positive_int,
                   help=f"steps between logged metrics and checkpoints (default {d('log_every')})")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_other_commands(sub, common) -> None:
    s = sub.add_parser("sample", parents=[common], help="draw samples from a checkpoint into a .npy or .png file")
    s.add_argument("checkpoint", help="a run directory or the checkpoint.npz that npgan train wrote")
    s.add_argument("-n", type=_sample_count, default=2500, help="number of samples (default 2500)")
    s.add_argument("-o", "--output", required=True,
                   help="FILE.npy for the arrays, or FILE.png for an image grid (image models)")
    s.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    s.add_argument("--label", type=int, default=None,
                   help="conditional runs: draw this class only (default: every class in turn)")

    e = sub.add_parser("evaluate", parents=[common], help="print a checkpoint's sample metrics as JSON",
                       description="Draws n samples from the generator with --seed and measures them as "
                                   "training does. The training log measured samples drawn from the run's "
                                   "own random state at each logging step, so a fresh draw of the same size "
                                   "differs from its last line by sampling noise; the real-image FD floor "
                                   "is the same. MMD^2, whose cost grows with the square of the sample "
                                   "size, uses at most the run's eval_mmd samples (1000 by default).")
    e.add_argument("checkpoint", help="a run directory or the checkpoint.npz that npgan train wrote")
    e.add_argument("-n", type=_sample_count, default=None,
                   help="number of samples (default: the run's eval_samples, as in its training log)")
    e.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")

    w = sub.add_parser("interpolate", parents=[common],
                       help="walk the latent space between random pairs of z (linear and spherical paths)")
    w.add_argument("checkpoint", help="a run directory or the checkpoint.npz that npgan train wrote")
    w.add_argument("-o", "--output", required=True, help="a .png file")
    w.add_argument("--pairs", type=_positive_int, default=6, help="pairs of z (default 6, at most 100)")
    w.add_argument("--steps", type=_positive_int, default=10, help="points on each path (default 10, at most 100)")
    w.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")

    c = sub.add_parser("train-classifier", parents=[common],
                       help="train the Fashion-MNIST classifier behind the Frechet distance")
    c.add_argument("--out", help="weights file (default: ~/.cache/npgan/fashion-mnist-classifier.npz, "
                                 "or under $NPGAN_HOME)")
    c.add_argument("--data-dir", help="folder with the Fashion-MNIST IDX files")
    c.add_argument("--epochs", type=_positive_int, default=2, help="passes over the data (default 2)")
    c.add_argument("--batch-size", type=_positive_int, default=128, help="minibatch size (default 128)")
    c.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate (default 0.001)")
    c.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")


def _parser():
    ap = _Parser(prog="npgan", description="Train and sample GANs built from scratch.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--backend", choices=["numpy", "cupy"], default=None,
                        help="array backend (default: $NPGAN_BACKEND or numpy)")
    common.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error (for bug reports; also NPGAN_DEBUG=1)")
    sub = ap.add_subparsers(dest="command", required=True, parser_class=_Parser)
    t = sub.add_parser("train", parents=[common], help="train a generator on a built-in data set")
    _add_train_options(t)
    _add_other_commands(sub, common)
    return ap


MAY_CHANGE_ON_RESUME = ("steps", "log_every")  # what --resume applies; every other option is the run's


def _resume_config(args) -> dict:
    """The checkpoint's config with what may change on resume applied; options that would change
    the run are refused, by name."""
    from .gan.base import config_of
    from .gan.config import DEFAULTS, make_config
    from .io import load_npz
    path = os.path.join(args.resume, "checkpoint.npz")
    state = load_npz(path)
    cfg = config_of(state, path)
    if args.out and os.path.abspath(args.out) != os.path.abspath(args.resume):
        raise ValueError(f"--resume {args.resume} continues the run in that folder; --out names another")
    changed = sorted(k for k in DEFAULTS if k not in MAY_CHANGE_ON_RESUME and getattr(args, k, None) is not None
                     and getattr(args, k) != cfg.get(k))
    if changed:
        flags = ", ".join("--" + k.replace("_", "-") for k in changed)
        raise ValueError(f"--resume continues the run as it was configured; {flags} would change it "
                         f"(start a new run with --out instead); only --steps and --log-every may change")
    if "step" not in state:
        raise KeyError(f"{path}: not a training checkpoint (missing key 'step')")
    done = int(state["step"])
    if args.steps is not None and args.steps <= done:
        raise ValueError(f"the run in {args.resume} is already at step {done}; --steps must be larger "
                         f"to continue it")
    if args.steps is None and done >= cfg.get("steps", 0):
        raise ValueError(f"the run in {args.resume} is complete ({done} steps); --steps N continues it to N")
    cfg.update({k: getattr(args, k) for k in MAY_CHANGE_ON_RESUME if getattr(args, k) is not None})
    return make_config(**cfg)


def _train(args):
    from .gan.config import DEFAULTS, make_config
    from .gan.runner import train
    if args.resume:
        out, cfg = args.resume, _resume_config(args)
    else:
        if not args.out:
            raise ValueError("train needs --out DIR (or --resume DIR)")
        out = args.out
        cfg = make_config(**{k: getattr(args, k) for k in DEFAULTS if hasattr(args, k)})
    final = train(cfg, out, resume=bool(args.resume), progress=not args.no_progress, overwrite=args.overwrite,
                  log=lambda msg: print(msg, file=sys.stderr))
    print(json.dumps(final))
    extra = f", {out}/grids/" if is_image(cfg["data"]) else ""
    if os.path.exists(f"{out}/latent_map.png"):
        extra += f", {out}/latent_map.png"
    print(f"wrote {out}/checkpoint.npz, {out}/metrics.jsonl, {out}/samples.png, {out}/losses.png{extra}")


def _checkpoint(path) -> str:
    """A checkpoint file, or the checkpoint.npz in a run directory."""
    return os.path.join(path, "checkpoint.npz") if os.path.isdir(path) else path


def _sample(args):
    from .gan.runner import from_checkpoint
    from .io import save_npy
    kind = os.path.splitext(args.output)[1].lower()
    if kind not in (".npy", ".png"):
        raise ValueError(f"-o {args.output}: expected a .npy file (the arrays) or a .png file (an image grid)")
    trainer, _, _ = from_checkpoint(_checkpoint(args.checkpoint))
    labels = None
    if args.label is not None:
        if not 0 <= args.label < trainer.num_classes:
            raise ValueError(f"--label {args.label}: this checkpoint has "
                             + (f"classes 0..{trainer.num_classes - 1}" if trainer.num_classes else "no classes "
                                "(train with --conditional)"))
        labels = B.host.full(args.n, args.label)
    B.seed(args.seed)
    x = trainer.sample(args.n, labels=labels)
    if kind == ".png":
        if x.ndim != 4:
            raise ValueError(f"a .png grid needs image samples; this checkpoint draws shape {tuple(x.shape)}")
        from .evaluation.plot import plot_image_grid
        plot_image_grid(x, args.output, title=f"{args.checkpoint}, step {trainer.step}")
    else:
        save_npy(args.output, B.to_numpy(x))
    print(f"wrote {args.n} samples to {args.output}")


def _interpolate(args):
    from .evaluation.plot import plot_walks
    from .gan.runner import from_checkpoint
    if not args.output.lower().endswith(".png"):
        raise ValueError(f"-o {args.output}: expected a .png file")
    if args.steps < 2 or args.steps > 100 or args.pairs > 100:
        raise ValueError("--steps must be from 2 (the two ends of each path) to 100, and --pairs at most 100")
    path = _checkpoint(args.checkpoint)
    trainer, ds, cfg = from_checkpoint(path)
    B.seed(args.seed)
    plot_walks(trainer, ds, args.output, args.pairs, args.steps,
               title=f"{cfg['data']}, step {trainer.step}: linear and spherical paths between z pairs")
    print(f"wrote {args.output}")


def _evaluate(args):
    from .evaluation.evaluators import make_evaluator
    from .gan.runner import from_checkpoint
    path = _checkpoint(args.checkpoint)
    trainer, ds, cfg = from_checkpoint(path)
    n = args.n or cfg["eval_samples"]
    evaluator = make_evaluator(cfg, ds, out_dir=None, log=lambda note: None)  # the training log's measures
    B.seed(args.seed)
    result = evaluator.measure(trainer, n)
    print(json.dumps({"checkpoint": path, "step": trainer.step, "samples": n, "seed": args.seed, **result}))


def _train_classifier(args):
    from .data import fashion_mnist
    from .evaluation import classifier
    train_data, test_data = fashion_mnist("train", args.data_dir), fashion_mnist("test", args.data_dir)
    clf = classifier.train(train_data, test_data, epochs=args.epochs, batch_size=args.batch_size,
                           lr=args.lr, seed=args.seed, progress=not args.no_progress)
    path = clf.save(args.out or classifier.default_path())
    print(json.dumps(clf.info))
    print(f"wrote {path}")


def _interrupted(exc) -> int:
    from .gan.runner import RunInterrupted
    if isinstance(exc, RunInterrupted):
        print(f"npgan: {exc}", file=sys.stderr)
    else:  # a second Ctrl-C, mid-step: the last checkpoint stands
        print("npgan: interrupted; the last checkpoint written, if any, is intact "
              "(continue with npgan train --resume DIR)", file=sys.stderr)
    return 130


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:  # no command: list them
        _parser().print_help()
        return 0
    args = _parser().parse_args(argv)
    debug = args.debug or os.environ.get("NPGAN_DEBUG", "") not in ("", "0")
    B.keep_freed_memory()  # each training step reuses the memory the last one freed (opt-out: env)
    from .gan.runner import RunInterrupted, TrainingDiverged
    try:
        if B.environment_error():
            raise ValueError(B.environment_error())
        if args.backend:
            B.set_backend(args.backend)
        {"train": _train, "sample": _sample, "evaluate": _evaluate, "interpolate": _interpolate,
         "train-classifier": _train_classifier}[args.command](args)
    except (KeyboardInterrupt, RunInterrupted) as exc:
        return _interrupted(exc)
    except TrainingDiverged as exc:
        print(f"npgan: error: {exc}; the last good checkpoint is kept", file=sys.stderr)
        return 3
    except (ValueError, KeyError, OSError, RuntimeError, TypeError, EOFError, MemoryError) as exc:
        if debug:
            raise
        print(f"npgan: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    return 0


def _one_line(exc) -> str:
    if isinstance(exc, MemoryError):
        return f"out of memory ({exc or 'the sizes asked for do not fit'}); ask for fewer samples or smaller networks"
    msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(str(msg).split()) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
