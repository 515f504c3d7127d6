"""Sample-quality metrics for the built-in data sets.

Mode metrics (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018), on
samples from a mixture of Gaussians with known modes and std sigma:

* a sample is **high quality** when it lies within 3 sigma of its nearest mode;
* a mode is **captured** when at least one high-quality sample has it as its
  nearest mode;
* **reverse KL**: KL(q || u) between q, the histogram of the high-quality
  samples over the modes, and u, the uniform histogram the data has. It is 0
  when every mode gets its fair share and log(K) when one mode gets them all.

``mmd2`` is the unbiased squared MMD between samples and data (any data set),
the same estimator the MMD trainer minimises (``npgan.losses.mmd2``).
"""

from __future__ import annotations

import math

from . import backend as B
from .losses import DEFAULT_BANDWIDTHS
from .losses import mmd2 as _mmd2


def mode_metrics(samples, modes, std: float) -> dict:
    """Modes captured, high-quality fraction and reverse KL for samples (n, d) around modes (K, d)."""
    x = B.to_numpy(samples).astype(B.host.float64)
    modes = B.host.asarray(modes, dtype=B.host.float64)
    if x.ndim != 2 or x.shape[1] != modes.shape[1]:
        raise ValueError(f"mode_metrics: expected samples of shape (n, {modes.shape[1]}), "
                         f"received {tuple(x.shape)}")
    d2 = ((x[:, None, :] - modes[None, :, :]) ** 2).sum(axis=2)
    nearest = d2.argmin(axis=1)
    dist = B.host.sqrt(d2[B.host.arange(len(x)), nearest])
    hq = dist <= 3 * std
    k = len(modes)
    counts = B.host.bincount(nearest[hq], minlength=k)
    total = counts.sum()
    if total:
        q = counts / total
        nz = q > 0
        rkl = float((q[nz] * B.host.log(q[nz] * k)).sum())
    else:
        rkl = math.log(k)  # as far from uniform as it gets
    return {
        "modes": int((counts > 0).sum()),
        "n_modes": k,
        "high_quality": float(hq.mean()),
        "reverse_kl": rkl,
    }


def mmd2(samples, data, bandwidths=DEFAULT_BANDWIDTHS) -> float:
    """Unbiased MMD^2 between two sample sets (current backend or host arrays)."""
    return _mmd2(B.asarray(samples), B.asarray(data), bandwidths)[0]


def evaluate(samples, dataset, n_mmd: int = 2500) -> dict:
    """Mode metrics on all ``samples``, and MMD^2 between the first ``n_mmd`` of them and as
    many fresh data samples (MMD^2 costs O(n^2): training logs use a smaller n_mmd)."""
    out = mode_metrics(samples, dataset.modes(), dataset.std)
    n = min(n_mmd, samples.shape[0])
    out["mmd2"] = mmd2(samples[:n], dataset.sample(n))
    return out
