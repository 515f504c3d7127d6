r"""Sample-quality metrics for the built-in data sets.

**Mode metrics** (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018), on samples
from a mixture of Gaussians with $K$ known modes and standard deviation $\sigma$
(defined in `mode_metrics`):

* a sample is **high quality** when it lies within $3\sigma$ of its nearest mode;
* a mode is **captured** when at least one high-quality sample has it as its nearest mode;
* **reverse KL**: $\mathrm{KL}(q \,\|\, u)$ between $q$, the histogram of the high-quality
  samples over the modes, and $u$, the uniform histogram the data has (`reverse_kl`). It is
  0 when every mode gets its fair share and $\log K$ when one mode gets them all.

`off_mode_profile` splits the rest: a mode's tails ($3\sigma$ to $6\sigma$) against samples
between the modes (beyond $6\sigma$), and the spread of the near-mode samples. `mode_shares`
is the share of samples nearest each mode, with no threshold. `latent_mode_map` shows where
a generator with a 2-D latent space sends each $z$: the mode $G(z)$ lands on, over a grid of
$z$ (a dropped mode is one no $z$ reaches).

`mmd2` is the unbiased squared MMD between samples and data (any data set), the same
estimator the MMD trainer minimises (`npgan.losses.mmd2`).

**Image metrics**, in the feature space of a classifier (`npgan.evaluation.classifier`,
trained with npgan on Fashion-MNIST; the FID of Heusel et al. 2017 does the same with
Inception features):

* **Fréchet distance** between Gaussians fitted to real and generated features
  (`frechet_distance`): 0 for identical statistics, growing with any difference in mean or
  covariance;
* **class coverage**: the histogram $\rho$ of the classifier's labels over generated images,
  summarised as $e^{H(\rho)}/C$, $H$ the entropy: the effective fraction of the $C$ classes a
  generator produces (`class_coverage`), 1 when every class gets its share, $1/C$ when a
  collapsed generator draws one class only.

**Sample-based metrics** for any data set, in data space or in a feature space, from
$k$-nearest-neighbour balls around the samples (each defined in its function):

* **precision** and **recall** (Kynkäänniemi et al. 2019, `precision_recall`): the share of
  generated samples inside the real samples' balls (quality), and of real samples inside the
  generated samples' balls (diversity);
* **density** and **coverage** (Naeem et al. 2020, `density_coverage`): how many real balls
  hold each generated sample on average (about 1 for a perfect generator), and the share of
  real balls holding at least one generated sample;
* **KID** (Bińkowski et al. 2018, `kid`): the unbiased $\widehat{\mathrm{MMD}}^2$ with a cubic
  polynomial kernel, averaged over random subsets.

`prdc` gives the first four at once. Their distances are formed in row blocks of at most
`BLOCK_ENTRIES` entries, so memory stays bounded whatever the sample sizes.
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
    r"""Modes captured, high-quality fraction and reverse KL for samples $(n, d)$ around modes $(K, d)$.

    **Definitions.** For samples $x_1, \dots, x_n$ and modes $m_1, \dots, m_K$ of standard
    deviation $\sigma$ = `std`, each sample has a nearest mode $\kappa_i$ and a distance
    $\delta_i$ to it:

    $$
    \kappa_i = \arg\min_k \|x_i - m_k\|, \qquad \delta_i = \|x_i - m_{\kappa_i}\|.
    $$

    * sample $i$ is **high quality** when $\delta_i \le 3\sigma$;
    * mode $k$ is **captured** when some high-quality sample has $\kappa_i = k$;
    * **reverse KL** is $\mathrm{KL}(q \,\|\, u)$ (`reverse_kl`) of the histogram $q$ of the
      high-quality samples over the modes to the uniform $u_k = 1/K$ the data has. "Reverse"
      because the generator's distribution comes first, as in $\mathrm{KL}(p_g \,\|\, p_\text{data})$.

    With $\mathcal H = \{i : \delta_i \le 3\sigma\}$ the high-quality samples,

    $$
    q_k = \frac{\#\{i \in \mathcal H : \kappa_i = k\}}{\#\mathcal H}.
    $$

    Returns `modes` (the number captured), `n_modes` ($K$), `high_quality`
    ($\#\mathcal H / n$) and `reverse_kl` ($\log K$, as far as it gets, when no sample is
    high quality).
    """
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
    r"""$\mathrm{KL}(q \,\|\, u)$ of shares $q$ $(K,)$ over the modes (summing to 1) to the uniform $u_k = 1/K$.

    $$
    \mathrm{KL}(q \,\|\, u) = \sum_k q_k \log \frac{q_k}{1/K} = \log K + \sum_k q_k \log q_k = \log K - H(q),
    $$

    with $0 \log 0 = 0$ (empty modes are left out of the sum): 0 when every mode has its fair
    share ($H(q) = \log K$), $\log K$ when one mode has them all ($H(q) = 0$).
    """
    q = B.host.asarray(shares, dtype=B.host.float64)
    q = q[q > 0]
    return float((q * B.host.log(q * len(shares))).sum())


def mode_assignment(samples, modes, std: float):
    r"""For each sample, the index $\kappa_i$ of its nearest mode when it is high quality ($\delta_i \le 3\sigma$), else $-1$.

    A host int array $(n,)$. `mode_metrics` counts these; `latent_mode_map` lays them out
    over a grid of latent codes."""
    nearest, dist = _nearest_mode(samples, modes, "mode_assignment")
    return B.host.where(dist <= 3 * std, nearest, -1)


def mode_shares(samples, modes):
    r"""The share of the samples whose nearest mode is mode $k$, for each $k$: a host float array $(K,)$ that sums to 1.

    No quality threshold: a generator whose mass sits between two modes still shows where
    it leans, so a series of these over training steps shows a collapsed generator moving
    from mode to mode (`demos/mode_collapse.py`'s heat map)."""
    nearest, _ = _nearest_mode(samples, modes, "mode_shares")
    return B.host.bincount(nearest, minlength=len(modes)) / max(len(nearest), 1)


def latent_mode_map(trainer, dataset, n: int = 201):
    r"""Which mode each latent code $z$ lands on: G's map of a 2-D latent space.

    $z$ runs over an $n \times n$ grid covering the noise prior ($\mathcal U[-1, 1]^2$: the
    whole square; $\mathcal N(0, I)$: $[-3, 3]^2$, 99.5% of its mass). Returns
    `(assign, extent)`: `assign` $(n, n)$, row $i$ at $z_2$ = the $i$-th grid value from the
    bottom and column $j$ at $z_1$ the $j$-th, holding `mode_assignment` of $G(z)$ ($-1$ where
    $G(z)$ is not within 3 std of a mode); `extent` the grid's half-width. A continuous G
    must carry $z$ across the gaps between modes, so the cells are separated by thin $-1$
    borders; a mode with no cell is dropped. Needs a 2-D latent space and 2-D data.
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
    r"""Where the samples that are not high quality lie, by their distance to the nearest mode in stds.

    With $r_i = \|x_i - m_{\kappa_i}\| / \sigma$ the distance of sample $i$ to its nearest mode
    in standard deviations $\sigma$ = `std`:

    * `tails`: the fraction with $3 < r_i \le 6$, the tails of a mode. Data from the mixture
      itself puts $e^{-9/2} = 1.1\%$ of its mass beyond 3 std in 2-D, so a perfect generator
      scores 98.9% high quality (derived below);
    * `between`: the fraction with $r_i > 6$, samples between the modes (for a continuous
      generator, on the paths it draws from one mode to the next);
    * `spread`: the rms per-coordinate distance of the near samples
      $S = \{i : r_i \le 6\}$, in stds, $\sqrt{\sum_{i \in S} r_i^2 / (\#S \cdot \dim)}$ with
      $\dim$ the data's dimension: 1.0 when the modes have the data's width, below 1 when they
      are too narrow (NaN when no sample is that close).

    Also returns `high_quality`, the fraction with $r_i \le 3$.

    **The 1.1%.** In 2-D, a sample of an isotropic Gaussian mode has
    $r^2 = \xi_1^2 + \xi_2^2$ for independent standard normals $\xi_1, \xi_2$: a $\chi^2$
    with 2 degrees of freedom, whose density at $s = r^2$ is $\frac12 e^{-s/2}$ (the distance
    $r$ is Rayleigh-distributed). So

    $$
    \Pr(r > 3) = \int_9^\infty \tfrac12 e^{-s/2}\, ds = e^{-9/2} \approx 0.011.
    $$
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
    r"""Unbiased $\widehat{\mathrm{MMD}}^2$ between two sample sets (current backend or host arrays), as a float.

    The estimator of `npgan.losses.mmd2`, with its default bandwidths unless given."""
    return float(_mmd2(B.asarray(samples), B.asarray(data), bandwidths)[0])


def evaluate(samples, dataset, n_mmd: int = 2500) -> dict:
    r"""Mode metrics on all `samples`, and $\widehat{\mathrm{MMD}}^2$ between the first `n_mmd` of them and fresh data.

    As many fresh data samples are drawn. $\widehat{\mathrm{MMD}}^2$ costs $O(n^2)$: training logs use a smaller `n_mmd`."""
    out = mode_metrics(samples, dataset.modes(), dataset.std)
    n = min(n_mmd, samples.shape[0])
    out["mmd2"] = mmd2(samples[:n], dataset.sample(n))
    return out


def feature_stats(features):
    r"""$(\mu, \Sigma)$, mean $(d,)$ and covariance $(d, d)$, of features $(n, d)$, on the host in float64.

    At least 2 rows are needed (the covariance divides by $n - 1$)."""
    f = B.to_numpy(features).astype(B.host.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"feature_stats: expected features of shape (n >= 2, d), received {tuple(f.shape)}")
    return f.mean(axis=0), B.host.cov(f, rowvar=False)


def _sqrt_psd(s):
    """Symmetric square root of a positive semi-definite matrix, via its eigendecomposition."""
    vals, vecs = B.host.linalg.eigh(s)
    return (vecs * B.host.sqrt(B.host.clip(vals, 0, None))) @ vecs.T


def frechet_distance(stats_a, stats_b) -> float:
    r"""Fréchet (2-Wasserstein) distance between $\mathcal N(\mu_a, \Sigma_a)$ and $\mathcal N(\mu_b, \Sigma_b)$, as a float.

    `stats_a`, `stats_b` are `(mean, cov)` pairs from `feature_stats`; statistics of
    different sizes are refused.

    **Definition.** For Gaussians the squared 2-Wasserstein distance has the closed form

    $$
    d_F^2 = \|\mu_a - \mu_b\|^2 + \operatorname{tr}\bigl(\Sigma_a + \Sigma_b - 2 (\Sigma_a \Sigma_b)^{1/2}\bigr).
    $$

    **How it is computed.** $\Sigma_a \Sigma_b$ is not symmetric, and a general matrix
    square root can leave complex round-off. But with the symmetric square root
    $\Sigma_a^{1/2}$ (from an eigendecomposition) and $\Sigma_a$ invertible,

    $$
    \Sigma_a \Sigma_b = \Sigma_a^{1/2} \bigl(\Sigma_a^{1/2} \Sigma_b \Sigma_a^{1/2}\bigr) \Sigma_a^{-1/2},
    $$

    so $\Sigma_a \Sigma_b$ is similar to the symmetric positive semi-definite
    $M = \Sigma_a^{1/2} \Sigma_b \Sigma_a^{1/2}$ and has the same eigenvalues
    $\lambda_i \ge 0$. The trace of a square root is the sum of the square roots of the
    eigenvalues, hence

    $$
    \operatorname{tr}(\Sigma_a \Sigma_b)^{1/2} = \operatorname{tr} M^{1/2} = \sum_i \sqrt{\lambda_i},
    \qquad
    d_F^2 = \|\mu_a - \mu_b\|^2 + \operatorname{tr} \Sigma_a + \operatorname{tr} \Sigma_b - 2 \sum_i \sqrt{\lambda_i},
    $$

    which needs only symmetric eigendecompositions (stable, no complex round-off).
    Eigenvalues below 0 by rounding are clipped to 0, and so is the result.
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
    r"""For a conditional generator: the share of the samples drawn for class $k$ that land on class $k$.

    By a classifier's prediction, or a mixture's mode assignment; per class, and the mean
    over the classes drawn (`label_accuracy`, `label_accuracy_per_class`, NaN for a class
    not drawn). `assigned` may hold $-1$ (no class: off every mode)."""
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
    r"""Spread of predicted class labels: histogram, $e^{H(\rho)}/C$, and classes with at least a $1/(2C)$ share.

    For $C$ = `n_classes`, with $\rho_c$ the share of the labels equal to $c$ and
    $H(\rho) = -\sum_c \rho_c \log \rho_c$ its entropy ($0 \log 0 = 0$),

    $$
    \text{class coverage} = \frac{e^{H(\rho)}}{C}, \qquad \text{classes covered} = \#\{c : \rho_c \ge 1/(2C)\}.
    $$

    $e^{H(\rho)}$ is the effective number of classes: $C$ for the uniform $\rho$ (coverage 1),
    1 when one class has every label (coverage $1/C$). Returns `class_coverage`,
    `classes_covered` and `class_histogram` ($\rho$, rounded to 4 places). Labels outside
    $[0, C)$, or none, are refused.
    """
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


BLOCK_ENTRIES = 1 << 24  # the largest distance or kernel matrix block held at once


def _as_points(x, where: str):
    """Samples (n, d) as float64 points on the current backend (images are flattened)."""
    p = B.asarray(x, dtype=B.host.float64)
    if p.ndim < 2 or p.shape[0] < 2:
        raise ValueError(f"{where}: expected samples of shape (n >= 2, d), received {tuple(p.shape)}")
    return p.reshape(p.shape[0], -1)


def _row_blocks(n: int, m: int, block: int):
    """(start, stop) of row blocks of an (n, m) matrix with at most ``block`` entries each (one row at least)."""
    rows = max(1, block // max(m, 1))
    return [(i, min(n, i + rows)) for i in range(0, n, rows)]


def _sq_dists(a, b):
    """Squared Euclidean distances (r, m) between the rows of a (r, d) and b (m, d), clipped at 0."""
    xp = B.get_backend()
    d2 = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * (a @ b.T)
    return xp.maximum(d2, 0.0)


def knn_radii(x, k: int, block: int = BLOCK_ENTRIES):
    r"""The squared distances $r_1(x_i)^2 \le \dots \le r_k(x_i)^2$ from each row of x $(n, d)$ to its $k$ nearest *other* rows.

    An $(n, k)$ array on the current backend; its last column holds the squared $k$-NN
    radii. Computed in row blocks of at most `block` distances, each reduced with a partial
    sort (so one pass serves every $k' \le k$)."""
    xp = B.get_backend()
    x = _as_points(x, "knn_radii")
    n = x.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"knn_radii: k must be in [1, {n - 1}] for {n} samples, got {k}")
    out = []
    for i, j in _row_blocks(n, n, block):
        d2 = _sq_dists(x[i:j], x)
        d2[xp.arange(j - i), xp.arange(i, j)] = xp.inf  # a sample is not its own neighbour
        out.append(xp.sort(xp.partition(d2, k - 1, axis=1)[:, :k], axis=1))
    return xp.concatenate(out)


def _against(x, centres, radii2s, block: int):
    """For each row of x: how many balls (centres, squared radii) hold it (distance <= radius), for each
    radii array in ``radii2s``, and its squared distance to the nearest centre."""
    xp = B.get_backend()
    counts, nearest = [[] for _ in radii2s], []
    for i, j in _row_blocks(x.shape[0], centres.shape[0], block):
        d2 = _sq_dists(x[i:j], centres)
        for c, r2 in zip(counts, radii2s):
            c.append((d2 <= r2[None, :]).sum(axis=1))
        nearest.append(d2.min(axis=1))
    return [xp.concatenate(c) for c in counts], xp.concatenate(nearest)


def precision_recall(real, fake, k: int = 3, block: int = BLOCK_ENTRIES) -> dict:
    r"""Improved precision and recall (Kynkäänniemi et al. 2019) of fake samples against real ones.

    **Definition.** Each sample set approximates its distribution's support by a union of
    balls, one per sample, reaching its $k$-th nearest other sample of the same set. With
    real samples $x_1, \dots, x_n$, fake samples $y_1, \dots, y_m$ (rows, flattened when
    images) and $r_k(x_i)$ the distance from $x_i$ to its $k$-th nearest neighbour among the
    other real samples,

    $$
    \operatorname{manifold}(x_1, \dots, x_n) = \bigcup_i \{v : \|v - x_i\| \le r_k(x_i)\},
    $$

    $$
    \text{precision} = \frac1m \sum_j \mathbf 1\bigl[y_j \in \operatorname{manifold}(x_1, \dots, x_n)\bigr],
    \qquad
    \text{recall} = \frac1n \sum_i \mathbf 1\bigl[x_i \in \operatorname{manifold}(y_1, \dots, y_m)\bigr].
    $$

    Precision is the share of fakes that look real (quality); recall the share of the real
    data the generator reaches (diversity): a collapsed generator keeps its precision and
    loses its recall. Both are 1 for identical sets and 0 for sets far apart.

    **How it is computed.** Distances are formed in row blocks of at most `block` entries
    (`BLOCK_ENTRIES`), never the whole $m \times n$ matrix, in float64 on the current
    backend: the radii by a partial sort per block (`knn_radii`), then per fake the number
    of real balls holding it, and per real the number of fake balls. Returns `precision`
    and `recall` as floats.
    """
    x, y = _as_points(real, "precision_recall"), _as_points(fake, "precision_recall")
    out = prdc(x, y, k, k, block)
    return {"precision": out["precision"], "recall": out["recall"]}


def density_coverage(real, fake, k: int = 5, block: int = BLOCK_ENTRIES) -> dict:
    r"""Density and coverage (Naeem et al. 2020) of fake samples against real ones.

    **Definition.** In the notation of `precision_recall` (real $x_1, \dots, x_n$, fake
    $y_1, \dots, y_m$, $r_k(x_i)$ the distance from $x_i$ to its $k$-th nearest other real
    sample, $B_i = \{v : \|v - x_i\| \le r_k(x_i)\}$ its ball), only the real balls are used:

    $$
    \text{density} = \frac{1}{k m} \sum_j \sum_i \mathbf 1[y_j \in B_i],
    \qquad
    \text{coverage} = \frac1n \sum_i \mathbf 1\bigl[\exists j : y_j \in B_i\bigr]
    = \frac1n \sum_i \mathbf 1\bigl[\min_j \|y_j - x_i\| \le r_k(x_i)\bigr].
    $$

    Density counts *how many* real balls hold each fake, so a few outlying real samples
    with big balls cannot make it 1 the way they make precision 1; its expected value is
    about 1 when the fakes are drawn from the real distribution (a real sample's ball holds
    $k$ of the other real samples), and it may exceed 1 when the fakes crowd the dense
    regions. Coverage is the share of real samples with a fake near them, built from the
    real balls only, so that fake outliers cannot raise it: 1 for identical sets, 0 for
    sets far apart.

    **How it is computed.** As in `precision_recall`: in row blocks of at most `block`
    distances. Returns `density` and `coverage` as floats.
    """
    x, y = _as_points(real, "density_coverage"), _as_points(fake, "density_coverage")
    radii2 = knn_radii(x, k, block)[:, -1]
    (inside,), _ = _against(y, x, [radii2], block)
    _, nearest = _against(x, y, [], block)
    return {"density": float(inside.sum()) / (k * y.shape[0]), "coverage": float((nearest <= radii2).mean())}


def _kernel_sum(a, b, block: int) -> float:
    """The sum of the polynomial kernel (a_i . b_j / d + 1)^3 over all pairs, in row blocks."""
    total = 0.0
    for i, j in _row_blocks(a.shape[0], b.shape[0], block):
        t = a[i:j] @ b.T
        t *= 1.0 / a.shape[1]
        t += 1.0
        total += float((t * t * t).sum())
    return total


def _mmd2_poly(x, y, block: int) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel between x (s, d) and y (s', d)."""
    n, m, d = x.shape[0], y.shape[0], x.shape[1]
    diag_x = float((((x * x).sum(axis=1) / d + 1.0) ** 3).sum())
    diag_y = float((((y * y).sum(axis=1) / d + 1.0) ** 3).sum())
    return ((_kernel_sum(x, x, block) - diag_x) / (n * (n - 1)) + (_kernel_sum(y, y, block) - diag_y) / (m * (m - 1))
            - 2.0 * _kernel_sum(x, y, block) / (n * m))


def kid(real, fake, subsets: int = 100, subset_size: int = 1000, seed: int = 0, block: int = BLOCK_ENTRIES) -> dict:
    r"""Kernel Inception Distance (Bińkowski et al. 2018): unbiased $\mathrm{MMD}^2$ with a cubic kernel, over subsets.

    **Definition.** With the polynomial kernel on $d$-dimensional features

    $$
    \kappa(u, v) = \Bigl(\frac{u^\top v}{d} + 1\Bigr)^3
    $$

    and $s$ real samples $x_1, \dots, x_s$ and $s$ fake samples $y_1, \dots, y_s$, the
    unbiased estimate of the squared maximum mean discrepancy is

    $$
    \widehat{\mathrm{MMD}}^2 = \frac{1}{s(s-1)} \sum_{i \ne i'} \kappa(x_i, x_{i'})
    + \frac{1}{s(s-1)} \sum_{j \ne j'} \kappa(y_j, y_{j'})
    - \frac{2}{s^2} \sum_i \sum_j \kappa(x_i, y_j).
    $$

    Its expectation is 0 when real and fake come from one distribution (a single estimate
    may be slightly negative) and positive otherwise; unlike the Fréchet distance it
    assumes no Gaussian shape and is unbiased at any sample size. KID is the mean of this
    estimate over `subsets` draws of $s = \min(\text{subset\_size}, n, m)$ samples taken
    without replacement from each set; `kid_std` is the standard deviation over the draws
    (dividing by their number).

    **How it is computed.** The subsets come from npgan's generator reseeded with `seed`,
    inside `preserved_rng`, so a call gives the same value each time and leaves a training
    run's random draws unchanged. The kernel sums are formed in row blocks of at most
    `block` entries, in float64 on the current backend; the diagonal terms
    $\kappa(x_i, x_i)$ are subtracted from the full sums. Returns `kid` and `kid_std`.
    """
    xp = B.get_backend()
    x, y = _as_points(real, "kid"), _as_points(fake, "kid")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"kid: real and fake samples of different sizes, {x.shape[1]} and {y.shape[1]}")
    s = min(subset_size, x.shape[0], y.shape[0])
    with B.preserved_rng():
        B.seed(seed)
        picks = [(B.permutation(x.shape[0])[:s], B.permutation(y.shape[0])[:s]) for _ in range(subsets)]
    values = B.host.asarray([_mmd2_poly(x[xp.asarray(i)], y[xp.asarray(j)], block) for i, j in picks])
    return {"kid": float(values.mean()), "kid_std": float(values.std())}


def prdc(real, fake, k_pr: int = 3, k_dc: int = 5, block: int = BLOCK_ENTRIES) -> dict:
    r"""`precision_recall` (with $k$ = `k_pr`) and `density_coverage` (with $k$ = `k_dc`) in one dict.

    Shares the work: one pass over the real-to-real distances gives both real radii, one
    over fake-to-real the counts for precision and density, one over real-to-fake those for
    recall and coverage, and one more the fake radii: four matrices' worth of distances
    (in blocks) where separate calls would form seven."""
    x, y = _as_points(real, "prdc"), _as_points(fake, "prdc")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"prdc: real and fake samples of different sizes, {x.shape[1]} and {y.shape[1]}")
    real_radii = knn_radii(x, max(k_pr, k_dc), block)
    fake_radii = knn_radii(y, k_pr, block)[:, -1]
    (in_pr, in_dc), _ = _against(y, x, [real_radii[:, k_pr - 1], real_radii[:, k_dc - 1]], block)
    (in_fake,), nearest = _against(x, y, [fake_radii], block)
    return {"precision": float((in_pr > 0).mean()), "recall": float((in_fake > 0).mean()),
            "density": float(in_dc.sum()) / (k_dc * y.shape[0]),
            "coverage": float((nearest <= real_radii[:, k_dc - 1]).mean())}
