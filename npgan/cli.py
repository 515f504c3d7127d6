"""Command line: ``npgan train | sample | evaluate | interpolate | plot | train-classifier | exercise | lab``
(also ``python -m npgan``).

Bad input (an unknown data set, a negative step count, an unreadable
checkpoint, a backend that is not available) ends with one line on stderr,
``npgan: error: ...``, and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

from . import backend as B
from . import comm as communicators
from . import exercises, runtime
from .data import fashion_mnist, is_image, names
from .evaluation import classifier
from .evaluation.plot import plot_image_grid, plot_walks, pyplot
from .exercises import EXERCISES
from .gan.config import DEFAULTS, MIN_EVAL_SAMPLES, OPTIONS, describe_default, make_config
from .gan.evaluators import make_evaluator
from .gan.lab import run_lab
from .gan.losses import GAN_LOSSES
from .gan.rundir import CHECKPOINT, METRICS, encode
from .gan.runner import RunInterrupted, TrainingDiverged, draw_final_plots, open_run, resume_config, train
from .io import check_writable, save_npy
from .parallel import RankZeroFailed


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not usage + message
        self.exit(2, f"npgan: error: {one_line(message)}\n")


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
    """``npgan train``'s options: the run's own, then one flag per declared config option
    (``npgan.gan.config.OPTIONS``: its help, choices and defaults; its checks run in make_config)."""
    t.add_argument("--out", help="run directory (checkpoint, metrics.jsonl, PNGs)")
    t.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its checkpoint "
                                                   "(--steps, --log-every and --data-dir may change; nothing else)")
    t.add_argument("--overwrite", action="store_true",
                   help="start afresh in an --out folder that holds a run (its old outputs are removed)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    for o in OPTIONS:
        if o.flag is not None:
            default = "" if o.flag.get("action") else f" (default {describe_default(o.name)})"
            t.add_argument("--" + o.name.replace("_", "-"), **o.flag_keywords(), help=o.help + default)


def _seed(text):
    try:
        v = int(text)
    except ValueError:
        v = -1
    if not 0 <= v < 2 ** 63:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to 2^63 - 1, got {text!r}")
    return v


def _add_other_commands(sub, common) -> None:
    run = argparse.ArgumentParser(add_help=False)  # what every command on a finished run takes
    run.add_argument("checkpoint", help="a run directory or the checkpoint.npz that npgan train wrote")
    run.add_argument("--data-dir", help="image runs: the folder their IDX files have moved to "
                                        "(checked against the run's data fingerprint)")
    s = sub.add_parser("sample", parents=[common, run], help="draw samples from a checkpoint into a .npy or .png file")
    s.add_argument("-n", type=_sample_count, default=2500, help="number of samples (default 2500)")
    s.add_argument("-o", "--output", required=True,
                   help="FILE.npy for the arrays, or FILE.png for an image grid (image models)")
    s.add_argument("--seed", type=_seed, default=0, help="seed of the noise (default 0)")
    s.add_argument("--label", type=int, default=None,
                   help="conditional runs: draw this class only (default: every class in turn)")

    e = sub.add_parser("evaluate", parents=[common, run], help="print a checkpoint's sample metrics as JSON",
                       description="Draws n samples from the generator with --seed and measures them as "
                                   "training does. The training log measured samples drawn from the run's "
                                   "own random state at each logging step, so a fresh draw of the same size "
                                   "differs from its last line by sampling noise; the real-image FD floor "
                                   "is the same. MMD^2, whose cost grows with the square of the sample "
                                   "size, uses at most the run's eval_mmd samples (1000 by default).")
    e.add_argument("-n", type=_sample_count, default=None,
                   help=f"number of samples, at least {MIN_EVAL_SAMPLES} (default: the run's eval_samples, "
                        f"as in its training log)")
    e.add_argument("--seed", type=_seed, default=0, help="seed of the noise (default 0)")

    w = sub.add_parser("interpolate", parents=[common, run],
                       help="walk the latent space between random pairs of z (linear and spherical paths)")
    w.add_argument("-o", "--output", required=True, help="a .png file")
    w.add_argument("--pairs", type=_positive_int, default=6, help="pairs of z (default 6, at most 100)")
    w.add_argument("--steps", type=_positive_int, default=10, help="points on each path (default 10, at most 100)")
    w.add_argument("--seed", type=_seed, default=0, help="seed of the noise (default 0)")

    sub.add_parser("plot", parents=[common, run], help="redraw a run's final plots from its checkpoint and log",
                   description="Draws samples.png, losses.png and, per kind of data, latent_map.png or "
                               "grids/training.gif again, as the end of npgan train does.")

    c = sub.add_parser("train-classifier", parents=[common],
                       help="train the Fashion-MNIST classifier behind the Frechet distance")
    c.add_argument("--out", help="weights file (default: ~/.cache/npgan/fashion-mnist-classifier.npz, "
                                 "or under $NPGAN_HOME)")
    c.add_argument("--data-dir", help="folder with the Fashion-MNIST IDX files")
    c.add_argument("--epochs", type=_positive_int, default=2, help="passes over the data (default 2)")
    c.add_argument("--batch-size", type=_positive_int, default=128, help="minibatch size (default 128)")
    c.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate (default 0.001)")
    c.add_argument("--seed", type=_seed, default=0, help="seed of every random draw (default 0)")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_exercise_commands(sub, common) -> None:
    x = sub.add_parser("exercise", help="write a backward pass by hand, graded by central differences",
                       description="Exercises: a file with the forward given and the backward to write "
                                   "(start), graded against central differences in float64 on drawn cases "
                                   "(check: exit 0 right, 1 wrong), or the worked solution (solution).")
    xs = x.add_subparsers(dest="action", required=True, parser_class=_Parser, metavar="{list,start,solution,check}")
    xs.add_parser("list", parents=[common], help="one exercise a line: its name, then what it asks for")
    for action, what in (("start", "the skeleton: the forward given, the backward to write"),
                         ("solution", "the worked solution, in the skeleton's format")):
        a = xs.add_parser(action, parents=[common], help=f"write DIR/NAME.py, {what}")
        a.add_argument("name", metavar="NAME", choices=list(EXERCISES), help="an exercise (npgan exercise list)")
        a.add_argument("dir", metavar="DIR", help="the folder to write NAME.py in (made if missing)")
        a.add_argument("--force", action="store_true", help="overwrite DIR/NAME.py if it exists")
    c = xs.add_parser("check", parents=[common], help="grade FILE's backward: PASS (exit 0), or what is wrong (exit 1)")
    c.add_argument("name", metavar="NAME", choices=list(EXERCISES), help="the exercise FILE answers")
    c.add_argument("file", metavar="FILE", help="the Python file with the exercise's functions")


def _add_lab_command(sub, common) -> None:
    lab = sub.add_parser("lab", parents=[common], help="watch a 2-D GAN train: D's surface and G's gradients, as a GIF "
                                                       "and an HTML page",
                         description="Trains a GAN on a 2-D data set and writes DIR/lab.gif and DIR/lab.html (play, "
                                     "pause, step; works offline): each frame shows D over the plane, the real and "
                                     "fake samples, each fake's gradient arrow -dL_G/dG(z), and the latent grid "
                                     "mapped by G.")
    lab.add_argument("--data", default="ring8", choices=names(), help="a 2-D data set (default ring8)")
    lab.add_argument("--steps", type=_positive_int, default=2000, help="training steps (default 2000)")
    lab.add_argument("--loss", default="non_saturating", choices=list(GAN_LOSSES),
                     help="the GAN loss (default non_saturating; minimax shows the vanishing arrows)")
    lab.add_argument("--out", required=True, help="the folder to write lab.gif and lab.html in")
    lab.add_argument("--frames", type=_positive_int, default=40, help="snapshots from step 0 to the last (default 40)")
    lab.add_argument("--d-warmup", type=int, default=0, help="D steps before G moves (default 0)")
    lab.add_argument("--seed", type=_seed, default=0, help="seed of every random draw (default 0)")
    lab.add_argument("--no-progress", action="store_true", help="no progress bar")


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
    _add_exercise_commands(sub, common)
    _add_lab_command(sub, common)
    return ap


def _train(args):
    if args.resume:
        if args.out and os.path.abspath(args.out) != os.path.abspath(args.resume):
            raise ValueError(f"--resume {args.resume} continues the run in that folder; --out names another")
        if args.overwrite:
            raise ValueError("--resume continues a run and --overwrite starts one afresh: choose one")
        out, cfg = args.resume, resume_config(args.resume, {k: getattr(args, k) for k in DEFAULTS if hasattr(args, k)})
    else:
        if not args.out:
            raise ValueError("train needs --out DIR (or --resume DIR)")
        out = args.out
        cfg = make_config(**{k: getattr(args, k) for k in DEFAULTS if hasattr(args, k)})
    ranks = communicators.from_environment()  # mpiexec -n N npgan train: one run on N processes
    final = train(cfg, out, resume=bool(args.resume), progress=not args.no_progress, overwrite=args.overwrite,
                  log=lambda msg: print(msg, file=sys.stderr), governor=runtime.ThreadGovernor(), comm=ranks)
    if ranks.rank != 0:
        return
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in final.items()}))  # the log: full floats
    extra = f", {out}/grids/" if is_image(cfg["data"]) else ""
    if os.path.exists(f"{out}/latent_map.png"):
        extra += f", {out}/latent_map.png"
    print(f"wrote {out}/{CHECKPOINT}, {out}/{METRICS}, {out}/samples.png, {out}/losses.png{extra}")


def _sample(args):
    kind = os.path.splitext(args.output)[1].lower()
    if kind not in (".npy", ".png"):
        raise ValueError(f"-o {args.output}: expected a .npy file (the arrays) or a .png file (an image grid)")
    check_writable(args.output)
    trainer, _, _, _, _ = open_run(args.checkpoint, args.data_dir)
    labels = None
    if args.label is not None:
        if not 0 <= args.label < trainer.num_classes:
            raise ValueError(f"--label {args.label}: this checkpoint has "
                             + (f"classes 0..{trainer.num_classes - 1}" if trainer.num_classes else "no classes "
                                "(train with --conditional)"))
        labels = B.host.full(args.n, args.label)
    if kind == ".png":
        pyplot()  # before drawing: a missing matplotlib is said first
        if trainer.sample(1).ndim != 4:
            raise ValueError("a .png grid needs image samples; this run draws points (use a .npy file)")
    B.seed(args.seed)
    x = trainer.sample(args.n, labels=labels)
    if kind == ".png":
        plot_image_grid(x, args.output, title=f"{args.checkpoint}, step {trainer.step}")
    else:
        save_npy(args.output, B.to_numpy(x))
    print(f"wrote {args.n} samples to {args.output}")


def _interpolate(args):
    if not args.output.lower().endswith(".png"):
        raise ValueError(f"-o {args.output}: expected a .png file")
    if args.steps < 2 or args.steps > 100 or args.pairs > 100:
        raise ValueError("--steps must be from 2 (the two ends of each path) to 100, and --pairs at most 100")
    check_writable(args.output)
    pyplot()
    trainer, ds, cfg, _, _ = open_run(args.checkpoint, args.data_dir)
    B.seed(args.seed)
    plot_walks(trainer, ds, args.output, args.pairs, args.steps,
               title=f"{cfg['data']}, step {trainer.step}: linear and spherical paths between z pairs")
    print(f"wrote {args.output}")


def _evaluate(args):
    if args.n is not None and args.n < MIN_EVAL_SAMPLES:
        raise ValueError(f"-n {args.n}: evaluate needs at least {MIN_EVAL_SAMPLES} samples; fewer leave the "
                         f"metrics to chance")
    trainer, ds, cfg, rd, _ = open_run(args.checkpoint, args.data_dir)
    n = args.n or cfg["eval_samples"]
    evaluator = make_evaluator(cfg, ds, out_dir=None, log=lambda note: None)  # the training log's measures
    B.seed(args.seed)
    result = evaluator.measure(trainer, n, full=True)  # KID too: too costly for every logging step
    # strict JSON: a non-finite metric is an error, never NaN in the output
    print(encode({"checkpoint": rd.checkpoint, "step": trainer.step, "samples": n, "seed": args.seed,
                  **result}), end="")


def _plot(args):
    pyplot()
    trainer, ds, cfg, rd, ckpt = open_run(args.checkpoint, args.data_dir)
    records = rd.read_records(ckpt.step, ckpt.identity and ckpt.identity["id"], warn=lambda _: None)
    if not records:
        raise ValueError(f"{rd.metrics} holds no logged step: there is nothing to plot yet")
    evaluator = make_evaluator(cfg, ds, rd.path, log=lambda note: None)
    with rd:  # it writes into the run: not while the run's own writer does
        paths = draw_final_plots(cfg, trainer, evaluator, rd, records)
    print("wrote " + ", ".join(paths))


def _train_classifier(args):
    path = args.out or classifier.default_path()
    classifier.check_output(path)  # before two epochs of training, not after
    train_data, test_data = fashion_mnist("train", args.data_dir), fashion_mnist("test", args.data_dir)
    clf = classifier.train(train_data, test_data, epochs=args.epochs, batch_size=args.batch_size,
                           lr=args.lr, seed=args.seed, progress=not args.no_progress)
    path = clf.save(path)
    print(json.dumps(clf.info))
    print(f"wrote {path}")


def _lab(args):
    if args.d_warmup < 0:
        raise ValueError(f"--d-warmup must be 0 or more, got {args.d_warmup}")
    paths = run_lab(args.data, steps=args.steps, loss=args.loss, out=args.out, frames=args.frames, seed=args.seed,
                    d_warmup=args.d_warmup, progress=not args.no_progress)
    print(f"wrote {paths['gif']} and {paths['html']} (open it in a browser: play, pause, step)")


def _exercise(args) -> int:
    if args.action == "list":
        print(exercises.listing())
    elif args.action == "start":
        path = exercises.start(args.name, args.dir, force=args.force)
        print(f"wrote {path}: write {exercises.get(args.name).backward}() between the markers, then run "
              f"npgan exercise check {args.name} {path}")
    elif args.action == "solution":
        print(f"wrote {exercises.solution(args.name, args.dir, force=args.force)}: the worked solution")
    else:
        status, report = exercises.check(args.name, args.file)
        print(report)
        return status
    return 0


def _interrupted(exc) -> int:
    if isinstance(exc, RunInterrupted):
        print(f"npgan: {one_line(exc)}", file=sys.stderr)
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
    runtime.keep_freed_memory()  # each training step reuses the memory the last one freed (opt-out: env)
    if communicators.launched_rank() != 0:  # rank 0 of a data-parallel run speaks for all
        sys.stdout = sys.stderr = open(os.devnull, "w")
    try:
        if B.environment_error():
            raise ValueError(B.environment_error())
        if communicators.launched_size() > 1 and args.command != "train":
            raise ValueError(f"only npgan train runs on several processes; run npgan {args.command} alone")
        if args.backend:
            B.set_backend(args.backend)
        status = {"train": _train, "sample": _sample, "evaluate": _evaluate, "interpolate": _interpolate,
                  "plot": _plot, "train-classifier": _train_classifier, "exercise": _exercise, "lab": _lab}[args.command](args)
    except (KeyboardInterrupt, RunInterrupted) as exc:
        return _interrupted(exc)
    except RankZeroFailed as exc:  # rank 0 reported it
        return {"RunInterrupted": 130, "KeyboardInterrupt": 130, "TrainingDiverged": 3}.get(exc.kind, 2)
    except TrainingDiverged as exc:
        print(f"npgan: error: {one_line(exc)}; the last good checkpoint is kept", file=sys.stderr)
        return 3
    except (ValueError, KeyError, OSError, RuntimeError, TypeError, EOFError, MemoryError) as exc:
        if debug:
            raise
        print(f"npgan: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    return status or 0  # None from a command that has no status of its own


def one_line(text) -> str:
    """``text`` as one printable line: runs of spaces, tabs and line breaks become one space, and
    any other control character (from a mistyped argument, say) is shown escaped, as ``\\x1e``."""
    text = re.sub(r"[ \t\n\r\f\v]+", " ", str(text)).strip(" ")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _one_line(exc) -> str:
    if isinstance(exc, MemoryError):
        return f"out of memory ({exc or 'the sizes asked for do not fit'}); ask for fewer samples or smaller networks"
    msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return one_line(msg) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
