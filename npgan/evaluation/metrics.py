"""Sample-quality metrics for the built-in data sets.

Mode metrics (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018), on
samples from a mixture of Gaussians with known modes and std sigma:

* a sample is **high quality** when it lies within 3 sigma of its nearest mode;
* a mode is **captured** when at least one high-quality sample has it as its
  nearest mode;
* **reverse KL**: KL(q || u) between q, the histogram of the high-quality
  samples over the modes, and u, the uniform histogram the data has. It is 0
  when every mode gets its fair share and log(K) when one mode gets them all.

``off_mode_profile`` splits the rest: a mode's tails (3-6 sigma) against samples
between the modes (beyond 6 sigma), and the spread of the near-mode samples.
``mode_shares`` is the share of samples nearest each mode, with no threshold.
``latent_mode_map`` shows where a generator with a 2-D latent space sends each z:
the mode G(z) lands on, over a grid of z (a dropped mode is one no z reaches).

``mmd2`` is the unbiased squared MMD between samples and data (any data set),
the same estimator the MMD trainer minimises (``npgan.losses.mmd2``).

Image metrics, in the feature space of a classifier (``npgan.evaluation.classifier``, trained
with npgan on Fashion-MNIST; the FID of Heusel et al. 2017 does the same with
Inception features):

* **Frechet distance** between Gaussians fitted to real and generated features,
  ``|mu_r - mu_g|^2 + Tr(S_r + S_g - 2 (S_r S_g)^{1/2})``: 0 for identical
  statistics, growing with any difference in mean or covariance;
* **class coverage**: the histogram of the classifier's labels over generated
  images, summarised as exp(entropy) / K, the effective fraction of the K
  classes a generator produces (1 when every class gets its share, 1/K when a
  collapsed generator draws one class only).
"""

from __future__ import annotations

import math

from .. import backend as B
from ..losses import DEFAULT_BANDWIDTHS
from ..losses import mmd2 as _mmd2


def _nearest_mode(samples, modes, where: str):
    """(index of the nearest mode, distance to it) for samples (n, d) and modes (K, d), float64."""
    x = B.to_numpy(samples).astype(B.host.float64)
    modes = B.host.asarray(modes, dtype=B.host.float64)
    if x.ndim != 2 or x.shape[1] != modes.shape[1]:
        raise ValueError(f"{where}: expected samples of shape (n, {modes.shape[1]}), "
                         f"received {tuple(x.shape)}")
    d2 = ((x[:, None, :] - modes[None, :, :]) ** 2).sum(axis=2)
    nearest = d2.argmin(axis=1)
    return nearest, B.host.sqrt(d2[B.host.arange(len(x)), nearest])


def mode_metrics(samples, modes, std: float) -> dict:
    """Modes captured, high-quality fraction and reverse KL for samples (n, d) around modes (K, d)."""
    assign = mode_assignment(samples, modes, std)
    hq = assign >= 0
    k = len(modes)
    counts = B.host.bincount(assign[hq], minlength=k)
    total = counts.sum()
    return {
        "modes": int((counts > 0).sum()),
        "n_modes": k,
        "high_quality": float(hq.mean()),
        "reverse_kl": reverse_kl(counts / total) if total else math.log(k),  # no sample: as far as it gets
    }


def reverse_kl(shares) -> float:
    """KL(q || u) of shares q (K,) over the modes (summing to 1) to the uniform u = 1/K:
    0 when every mode has its fair share, log K when one mode has them all."""
    q = B.host.asarray(shares, dtype=B.host.float64)
    q = q[q > 0]
    return float((q * B.host.log(q * len(shares))).sum())


def mode_assignment(samples, modes, std: float):
    """For each sample, the index of its nearest mode when it is high quality (within 3 std),
    else -1: a host int array (n,). ``mode_metrics`` counts these; ``latent_mode_map`` lays
    them out over a grid of latent codes."""
    nearest, dist = _nearest_mode(samples, modes, "mode_assignment")
    return B.host.where(dist <= 3 * std, nearest, -1)


def mode_shares(samples, modes):
    """The share of the samples whose nearest mode is mode k, for each k: a host float array
    (K,) that sums to 1. No quality threshold: a generator whose mass sits between two modes
    still shows where it leans, so a series of these over training steps shows a collapsed
    generator moving from mode to mode (``demos/mode_collapse.py``'s heat map)."""
    nearest, _ = _nearest_mode(samples, modes, "mode_shares")
    return B.host.bincount(nearest, minlength=len(modes)) / max(len(nearest), 1)


def latent_mode_map(trainer, dataset, n: int = 201):
    """Which mode each latent code z lands on: G's map of a 2-D latent space.

    z runs over an n x n grid covering the noise prior (U[-1, 1]^2: the whole square;
    N(0, I): [-3, 3]^2, 99.5% of its mass). Returns ``(assign, extent)``: ``assign`` (n, n),
    row i at z_2 = the i-th grid value from the bottom and column j at z_1 the j-th, holding
    ``mode_assignment`` of G(z) (-1 where G(z) is not within 3 std of a mode); ``extent``
    the grid's half-width. A continuous G must carry z across the gaps between modes, so
    the cells are separated by thin -1 borders; a mode with no cell is dropped.
    """
    if trainer.latent_dim != 2 or dataset.dim != 2:
        raise ValueError(f"latent_mode_map: needs a 2-D latent space and 2-D data, got "
                         f"latent_dim {trainer.latent_dim} and data dim {dataset.dim}")
    extent = 1.0 if trainer.noise == "uniform" else 3.0
    u = B.host.linspace(-extent, extent, n)
    z1, z2 = B.host.meshgrid(u, u)  # z1 varies along columns, z2 along rows
    z = B.asarray(B.host.stack([z1.ravel(), z2.ravel()], axis=1))  # in the current dtype
    x = trainer.sample(n * n, z=z)
    return mode_assignment(x, dataset.modes(), dataset.std).reshape(n, n), extent


def off_mode_profile(samples, modes, std: float) -> dict:
    """Where the samples that are not high quality lie, by distance d to the nearest mode in stds.

    * ``tails``: 3 < d <= 6, the tails of a mode. Data from the mixture itself puts
      exp(-9/2) = 1.1% of its mass beyond 3 std in 2-D (the distance of a 2-D Gaussian
      sample is Rayleigh-distributed), so a perfect generator scores 98.9% high quality;
    * ``between``: d > 6, samples between the modes (for a continuous generator, on the
      paths it draws from one mode to the next);
    * ``spread``: rms per-coordinate distance of the samples with d <= 6, in stds: 1.0
      when the modes have the data's width, below 1 when they are too narrow.
    """
    _, dist = _nearest_mode(samples, modes, "off_mode_profile")
    d = dist / std
    near = d <= 6
    dim = B.host.asarray(modes).shape[1]
    return {
        "high_quality": float((d <= 3).mean()),
        "tails": float(((d > 3) & near).mean()),
        "between": float((~near).mean()),
        "spread": float(B.host.sqrt((d[near] ** 2).mean() / dim)) if near.any() else float("nan"),
    }


def mmd2(samples, data, bandwidths=DEFAULT_BANDWIDTHS) -> float:
    """Unbiased MMD^2 between two sample sets (current backend or host arrays)."""
    return float(_mmd2(B.asarray(samples), B.asarray(data), bandwidths)[0])


def evaluate(samples, dataset, n_mmd: int = 2500) -> dict:
    """Mode metrics on all ``samples``, and MMD^2 between the first ``n_mmd`` of them and as
    many fresh data samples (MMD^2 costs O(n^2): training logs use a smaller n_mmd)."""
    out = mode_metrics(samples, dataset.modes(), dataset.std)
    n = min(n_mmd, samples.shape[0])
    out["mmd2"] = mmd2(samples[:n], dataset.sample(n))
    return out


def feature_stats(features):
    """(mean (d,), covariance (d, d)) of features (n, d), on the host in float64."""
    f = B.to_numpy(features).astype(B.host.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"feature_stats: expected features of shape (n >= 2, d), received {tuple(f.shape)}")
    return f.mean(axis=0), B.host.cov(f, rowvar=False)


def _sqrt_psd(s):
    """Symmetric square root of a positive semi-definite matrix, via its eigendecomposition."""
    vals, vecs = B.host.linalg.eigh(s)
    return (vecs * B.host.sqrt(B.host.clip(vals, 0, None))) @ vecs.T


def frechet_distance(stats_a, stats_b) -> float:
    r"""Frechet (2-Wasserstein) distance between N(mu_a, S_a) and N(mu_b, S_b)::

        d^2 = |mu_a - mu_b|^2 + Tr(S_a) + Tr(S_b) - 2 Tr((S_a^{1/2} S_b S_a^{1/2})^{1/2})

    The last trace equals Tr((S_a S_b)^{1/2}); written with the symmetric matrix
    S_a^{1/2} S_b S_a^{1/2} it needs only symmetric eigendecompositions (stable, no
    complex round-off). ``stats_*`` are ``(mean, cov)`` pairs from ``feature_stats``.
    """
    (mu_a, s_a), (mu_b, s_b) = stats_a, stats_b
    if mu_a.shape != mu_b.shape or s_a.shape != s_b.shape:
        raise ValueError(f"frechet_distance: statistics of different sizes, {mu_a.shape} and {mu_b.shape}")
    root_a = _sqrt_psd(s_a)
    cross = B.host.linalg.eigvalsh(root_a @ s_b @ root_a)
    tr_cross = float(B.host.sqrt(B.host.clip(cross, 0, None)).sum())
    diff = mu_a - mu_b
    return max(float(diff @ diff + B.host.trace(s_a) + B.host.trace(s_b) - 2.0 * tr_cross), 0.0)


def label_accuracy(assigned, labels, n_classes: int) -> dict:
    """For a conditional generator: the share of the samples drawn for class k that land on
    class k (by a classifier's prediction, or a mixture's mode assignment), per class and the
    mean over classes. ``assigned`` may hold -1 (no class: off every mode)."""
    got = B.to_numpy(assigned).astype(B.host.int64).ravel()
    want = B.host.asarray(labels).astype(B.host.int64).ravel()
    if got.shape != want.shape:
        raise ValueError(f"label_accuracy: {got.size} assignments for {want.size} labels")
    per_class = [float((got[want == k] == k).mean()) if (want == k).any() else float("nan")
                 for k in range(n_classes)]
    drawn = [a for a in per_class if a == a]
    return {"label_accuracy": float(sum(drawn) / len(drawn)) if drawn else float("nan"),
            "label_accuracy_per_class": [round(a, 4) for a in per_class]}


def class_coverage(labels, n_classes: int) -> dict:
    """Spread of predicted class labels: histogram, exp(entropy)/K, and classes with >= 1/(2K) share."""
    lab = B.to_numpy(labels).astype(B.host.int64).ravel()
    if lab.size == 0 or lab.min() < 0 or lab.max() >= n_classes:
        raise ValueError(f"class_coverage: expected labels in [0, {n_classes}), received "
                         f"{lab.size} labels" + (f" in [{lab.min()}, {lab.max()}]" if lab.size else ""))
    q = B.host.bincount(lab, minlength=n_classes) / lab.size
    nz = q > 0
    entropy = float(-(q[nz] * B.host.log(q[nz])).sum())
    return {
        "class_coverage": math.exp(entropy) / n_classes,
        "classes_covered": int((q >= 0.5 / n_classes).sum()),
        "class_histogram": [round(float(v), 4) for v in q],
    }
