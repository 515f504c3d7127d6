"""What a training run measures and draws at each logging step, per kind of data.

* ``MixtureEvaluator`` (ring8, grid25, the 1-D sets): mode metrics on 2,500
  samples and MMD^2 (``npgan.evaluation.metrics.evaluate``); at the end a scatter of samples
  over data and, for 2-D data from a 2-D latent space, ``latent_map.png``: the
  mode each z lands on (``npgan.evaluation.plot.plot_latent_map``).
* ``ImageEvaluator`` (Fashion-MNIST): an 8x8 grid of G(z) for one fixed batch of
  noise, written at every logging step (``grids/step_000500.png``, and the latest
  as ``samples.png``), so the grids show one set of garments taking shape; and,
  when a classifier file exists (``npgan train-classifier``), the Frechet
  distance to real test images in its feature space and the class coverage,
  with the same distance for real training images as the floor to aim at.

Both also log precision and recall (Kynkaanniemi et al. 2019) and density and coverage
(Naeem et al. 2020, ``npgan.evaluation.metrics.prdc``): mixtures in data space, images in
the classifier's feature space against test images. KID (``metrics.kid``) costs many times
a logging step's metrics, so only ``npgan evaluate`` reports it (``measure(..., full=True)``).

Both draw their random numbers with the training random state saved and
restored around them (``preserved_rng``), so evaluating never changes what is
trained.

They live in ``npgan.gan``, beside the runner that calls them, because they read a run's
config and draw a conditional trainer's samples for balanced labels (``npgan.gan.conditional``);
the measures and figures themselves are ``npgan.evaluation``'s, which reads no run config.
"""

from __future__ import annotations

import glob
import os

from .. import backend as B
from ..backend import preserved_rng
from ..data import get_dataset, is_image
from ..evaluation import plot
from ..evaluation.classifier import Classifier, default_path
from ..evaluation.metrics import evaluate, kid, label_accuracy, mode_assignment, prdc
from ..io import atomic_write
from .conditional import balanced_labels


def _drawn_labels(trainer, n: int):
    """The labels a conditional trainer's samples are drawn for (every class in turn), else None."""
    return balanced_labels(n, trainer.num_classes) if trainer.num_classes else None


def _sample_batched(trainer, n: int, labels=None, batch_size: int = 500):
    xp = B.get_backend()
    return xp.concatenate([trainer.sample(min(batch_size, n - i),
                                          labels=None if labels is None else labels[i:i + batch_size])
                           for i in range(0, n, batch_size)])


class MixtureEvaluator:
    """Mode metrics, MMD^2 and PRDC at each logging step; samples.png and latent_map.png at the end.

    Precision, recall, density and coverage are O(n^2), like MMD^2, so they take its sample
    size (``eval_mmd``), which keeps them a small part of a logging step. KID, averaged over
    many subsets, costs many times a logging step's metrics, so only ``npgan evaluate``
    reports it."""

    def __init__(self, cfg: dict, dataset, out_dir):
        self.cfg, self.ds, self.out_dir = cfg, dataset, out_dir

    def __call__(self, trainer) -> dict:
        with preserved_rng():
            return self.measure(trainer, self.cfg["eval_samples"])

    def measure(self, trainer, n: int, full: bool = False) -> dict:
        """The metrics of n samples drawn from the current random state; with ``full`` (``npgan
        evaluate``) KID too. Precision, recall, density and coverage are in data space, on the first
        ``eval_mmd`` samples against as many data samples (drawn with the random state preserved, so
        the other metrics' draws stay as they were); KID on all n against n data samples."""
        samples = trainer.sample(n)
        out = evaluate(samples, self.ds, n_mmd=min(n, self.cfg["eval_mmd"]))
        if trainer.num_classes:  # each mode is a class: does a sample of class k land on mode k?
            assigned = mode_assignment(samples, self.ds.modes(), self.ds.std)
            out.update(label_accuracy(assigned, _drawn_labels(trainer, n), trainer.num_classes))
        with preserved_rng():
            real = self.ds.sample(n)
        m = min(n, self.cfg["eval_mmd"])  # the O(n^2) metrics share MMD^2's sample size
        out.update(prdc(real[:m], samples[:m]))
        if full:
            out.update(kid(real, samples))
        return out

    @staticmethod
    def postfix(rec: dict) -> dict:
        return {"modes": f"{rec['modes']}/{rec['n_modes']}", "hq": f"{rec['high_quality']:.3f}"}

    @staticmethod
    def summary(rec: dict) -> dict:
        return {k: rec[k] for k in ("step", "modes", "n_modes", "high_quality", "reverse_kl", "mmd2",
                                    "precision", "recall", "density", "coverage", "label_accuracy") if k in rec}

    def final_plots(self, trainer, records) -> list:
        cfg, last = self.cfg, records[-1]
        with preserved_rng():
            samples = trainer.sample(cfg["eval_samples"])
            data = self.ds.sample(cfg["eval_samples"])
        path = os.path.join(self.out_dir, "samples.png")
        plot.plot_samples(samples, self.ds, path, data=data,
                          title=f"{cfg['trainer']} on {cfg['data']}, step {trainer.step}: "
                                f"{last['modes']}/{last['n_modes']} modes, {last['high_quality']:.1%} high quality")
        paths = [path]
        if trainer.latent_dim == 2 and self.ds.dim == 2 and not trainer.num_classes:  # G's map of its latent plane
            paths.append(plot.plot_latent_map(trainer, self.ds, os.path.join(self.out_dir, "latent_map.png")))
        return paths


class ImageEvaluator:
    """A sample grid at each logging step; FD, class coverage and PRDC where a classifier exists.

    Precision, recall, density and coverage compare the generated images' classifier
    features with those of as many test images; the test images' features are computed once
    per sample size and reused at every logging step. KID, averaged over many subsets, costs
    many times a logging step's metrics, so only ``npgan evaluate`` reports it."""

    GRID = 64  # an 8x8 sample grid

    def __init__(self, cfg: dict, dataset, out_dir, log=print):
        self.cfg, self.ds, self.out_dir = cfg, dataset, out_dir
        self.grid_noise = None  # drawn at the first call, from the seed: the same after --resume
        self.classifier, self._floors, self._real = None, {}, {}  # the real-image FD floor, test features per size
        path = cfg.get("classifier") or default_path()
        if cfg.get("classifier") and not os.path.exists(path):  # asked for by name: not skipped quietly
            raise FileNotFoundError(f"--classifier {path}: no such file (npgan train-classifier --out {path} "
                                    f"writes one)")
        if os.path.exists(path):
            self.classifier = Classifier.from_file(path)
            if self.classifier.real_stats is None or self.classifier.in_shape != dataset.shape:
                raise ValueError(f"{path}: classifier for images {self.classifier.in_shape} without "
                                 f"reference statistics cannot evaluate {cfg['data']} {dataset.shape}")
        else:
            log(f"note: no classifier at {path}: Frechet distance and class coverage are skipped "
                f"(create it once with: npgan train-classifier)")

    def __call__(self, trainer) -> dict:
        rec = {}
        k = trainer.num_classes
        if self.grid_noise is None:
            with preserved_rng():
                B.seed(self.cfg["seed"] + 1_000_003)
                if k:  # a row per class, the same noise down each column: class against style
                    self.grid_noise = B.get_backend().tile(trainer.sample_noise(k), (k, 1))
                else:
                    self.grid_noise = trainer.sample_noise(self.GRID)
        with preserved_rng():
            if self.classifier is not None:
                rec.update(self.measure(trainer, self.cfg["eval_samples"]))
            grid = trainer.sample(self.grid_noise.shape[0], z=self.grid_noise,
                                  labels=B.host.repeat(B.host.arange(k), k) if k else None)
        title = f"{self.cfg['model']} on {self.cfg['data']}, step {trainer.step}"
        if "fd" in rec:
            title += f": FD {rec['fd']:.2f} (real {rec['fd_real']:.2f})"
        path = os.path.join(self.out_dir, "grids", f"step_{trainer.step:06d}.png")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        plot.plot_image_grid(grid, path, nrow=k or 8, title=title)
        with open(path, "rb") as src, atomic_write(os.path.join(self.out_dir, "samples.png")) as dst:
            dst.write(src.read())  # the latest grid, drawn once
        return rec

    def measure(self, trainer, n: int, full: bool = False) -> dict:
        """FD (with the real-image floor at n), class coverage, precision, recall, density and
        coverage and, for a conditional run, label accuracy, of n samples drawn from the current
        random state; with ``full`` (``npgan evaluate``) KID too. All in the classifier's feature
        space, against the features of n test images (``real_features``)."""
        if self.classifier is None:
            raise ValueError(f"no classifier at {self.cfg.get('classifier') or 'the default path'}: "
                             f"create it once with: npgan train-classifier")
        labels = _drawn_labels(trainer, n)
        feats = self.classifier.features(_sample_batched(trainer, n, labels))
        out = self.classifier.evaluate_features(feats, labels)
        if n not in self._floors:  # once per size: the training log reuses it at every step
            self._floors[n] = real_floor(self.classifier, self.ds, self.cfg, n)
        out["fd_real"] = self._floors[n]
        real = self.real_features(n)
        out.update(prdc(real, feats))
        if full:
            out.update(kid(real, feats))
        return out

    def real_features(self, n: int):
        """Classifier features of n test images (all of them if fewer), drawn from their own seed
        once per size, so the training log and ``npgan evaluate`` compare with the same images."""
        if n not in self._real:
            test = get_dataset(self.cfg["data"], self.cfg["data_dir"], split="test")
            with preserved_rng():
                B.seed(self.cfg["seed"] + 3_000_003)
                self._real = {n: self.classifier.features(test.batch(B.permutation(len(test))[:n]))}
        return self._real[n]

    @staticmethod
    def postfix(rec: dict) -> dict:
        out = {"D(x)": f"{rec['d_real']:.2f}", "D(G(z))": f"{rec['d_fake']:.2f}"}
        if "fd" in rec:
            out["fd"] = f"{rec['fd']:.2f}"
        return out

    @staticmethod
    def summary(rec: dict) -> dict:
        return {k: rec[k] for k in ("step", "d_loss", "g_loss", "d_real", "d_fake", "fd", "fd_real",
                                    "class_coverage", "classes_covered", "precision", "recall", "density", "coverage",
                                    "label_accuracy") if k in rec}

    def final_plots(self, trainer, records) -> list:
        """The latest grid is samples.png already; add grids/training.gif, every grid in order."""
        frames = sorted(glob.glob(os.path.join(self.out_dir, "grids", "step_*.png")))
        gif = plot.grid_animation(frames, os.path.join(self.out_dir, "grids", "training.gif"))
        return [os.path.join(self.out_dir, "samples.png"), gif]


def real_floor(classifier, dataset, cfg: dict, n: int | None = None) -> float:
    """The Frechet distance of n real training images (default: the run's eval_samples) to the
    reference: the floor for the run's generated images. Drawn from its own seed, so the
    training log and ``npgan evaluate`` report the same floor."""
    with preserved_rng():
        B.seed(cfg["seed"] + 2_000_003)
        return classifier.real_floor(dataset, n or cfg["eval_samples"])


def make_evaluator(cfg: dict, dataset, out_dir, log=print):
    """The evaluator for the run's kind of data (``log`` takes its notes)."""
    if is_image(cfg["data"]):
        return ImageEvaluator(cfg, dataset, out_dir, log)
    return MixtureEvaluator(cfg, dataset, out_dir)
