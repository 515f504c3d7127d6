"""Figures (matplotlib, the ``plot`` extra): samples against the data, loss curves, image grids.

Every figure is written atomically (temporary file, then rename). Functions
return the path written.
"""

from __future__ import annotations

import os

from .. import backend as B
from ..io import TEMP_PREFIX, atomic_write
from .metrics import latent_mode_map
from .walks import walk


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend; a ``RuntimeError`` in one line where
    matplotlib is missing or cannot start (``npgan train`` asks before it trains)."""
    try:
        import matplotlib  # optional: matplotlib (the plot extra); this call says so in one line
    except ImportError:
        raise RuntimeError("plots need matplotlib: pip install -e '.[plot]'") from None
    except ValueError as exc:  # e.g. MPLBACKEND naming no backend: matplotlib refuses to import
        backend = os.environ.get("MPLBACKEND")
        hint = f"MPLBACKEND={backend!r} is not a matplotlib backend; unset it (npgan draws to files)" \
            if backend else "matplotlib cannot start"
        raise RuntimeError(f"{hint} ({' '.join(str(exc).split())[:120]})") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # optional: matplotlib (the plot extra)
    return plt


def save_figure(fig, path) -> str:
    plt = pyplot()
    with atomic_write(path) as f:
        fig.savefig(f, format=os.path.splitext(os.fspath(path))[1][1:] or "png", dpi=110,
                    bbox_inches="tight")
    plt.close(fig)
    return os.fspath(path)


def plot_samples(samples, dataset, path, title: str = "", data=None) -> str:
    """Generated samples over real data: a scatter for 2-D sets, histograms for 1-D."""
    plt = pyplot()
    x = B.to_numpy(samples)
    fig, ax = plt.subplots(figsize=(5, 5) if dataset.dim == 2 else (6, 3.5))
    real = B.to_numpy(data) if data is not None else None
    if dataset.dim == 1:
        lo, hi = min(x.min(), dataset.modes().min() - 4 * dataset.std), max(x.max(), dataset.modes().max() + 4 * dataset.std)
        grid = B.host.linspace(lo, hi, 400)
        ax.plot(grid, dataset.density(grid), "k-", label="p_data")
        ax.hist(x[:, 0], bins=80, range=(lo, hi), density=True, alpha=0.5, color="tab:green", label="p_g (samples)")
        ax.set_xlabel("x")
        ax.legend()
    else:
        if real is not None:
            ax.scatter(real[:, 0], real[:, 1], s=2, c="tab:blue", alpha=0.3, label="data")
        ax.scatter(x[:, 0], x[:, 1], s=2, c="tab:green", alpha=0.5, label="generated")
        modes = dataset.modes()
        ax.scatter(modes[:, 0], modes[:, 1], marker="x", s=30, c="red", label="modes")
        ax.set_aspect("equal")
        ax.legend(loc="upper right", fontsize=7, markerscale=3)
    ax.set_title(title or dataset.name)
    return save_figure(fig, path)


def plot_losses(records, path, keys=None, title: str = "training curves", equilibrium=None) -> str:
    """One panel per quantity, against the training step, from a list of metric records.
    ``equilibrium``: ``{key: (value, label)}`` reference lines, where the game's theory says a
    figure ends (``GANLoss.equilibrium()``)."""
    plt = pyplot()
    if not records:
        raise ValueError("plot_losses: no records to plot")
    keys = keys or [k for k in ("d_loss", "g_loss", "mmd2", "d_real", "d_fake", "g_grad_norm",
                                "high_quality", "modes", "fd", "class_coverage") if k in records[-1]]
    fig, axes = plt.subplots(len(keys), 1, figsize=(6, 1.8 * len(keys)), sharex=True)
    axes = [axes] if len(keys) == 1 else axes
    steps = [r["step"] for r in records]
    reference = dict(equilibrium or {})
    if records[-1].get("fd_real") is not None:  # the Frechet distance of real images: the floor
        reference["fd"] = (records[-1]["fd_real"], "real images")
    reference["class_coverage"] = (1.0, "every class")
    for ax, k in zip(axes, keys):
        ax.plot(steps, [r.get(k, float("nan")) for r in records], lw=1.2)
        if k in reference:
            ax.axhline(reference[k][0], color="gray", ls="--", lw=0.8, label=reference[k][1])
            ax.legend(fontsize=7, loc="best")
        ax.set_ylabel(k, fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_title(title)
    axes[-1].set_xlabel("step")
    return save_figure(fig, path)


def image_grid(images, nrow: int = 8):
    """(N, C, H, W) images in [-1, 1] -> one (rows*H, nrow*W) or (.., .., C) host array in [0, 1]."""
    x = B.to_numpy(images).astype(B.host.float32)
    n, c, h, w = x.shape
    rows = -(-n // nrow)
    # pad the batch to rows*nrow tiles and every tile by a 1-pixel white border
    tiles = B.host.ones((rows * nrow, c, h + 2, w + 2), dtype=B.host.float32)
    tiles[:n, :, 1:h + 1, 1:w + 1] = x
    grid = tiles.reshape(rows, nrow, c, h + 2, w + 2).transpose(0, 3, 1, 4, 2)
    grid = grid.reshape(rows * (h + 2), nrow * (w + 2), c)
    grid = (grid.clip(-1, 1) + 1) / 2
    return grid[..., 0] if c == 1 else grid


def plot_image_grid(images, path, nrow: int = 8, title: str = "") -> str:
    plt = pyplot()
    g = image_grid(images, nrow)
    fig, ax = plt.subplots(figsize=(6, 6 * g.shape[0] / g.shape[1]))
    ax.imshow(g, cmap="gray" if g.ndim == 2 else None, vmin=0, vmax=1)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return save_figure(fig, path)


def mode_colours(modes):
    """(K, 2) mode centres -> (K, 3) RGB colours that vary smoothly with position over the
    modes' bounding box (hue with x, from red to violet; from dark and saturated to light with
    y), so that neighbouring modes get related colours and a map coloured by mode shows the
    data's layout."""
    from matplotlib.colors import hsv_to_rgb  # optional: matplotlib (the plot extra)
    m = B.host.asarray(modes, dtype=B.host.float64)
    lo, hi = m.min(axis=0), m.max(axis=0)
    u, v = ((m - lo) / B.host.where(hi > lo, hi - lo, 1.0)).T
    return hsv_to_rgb(B.host.stack([0.8 * u, 0.95 - 0.6 * v, 0.45 + 0.5 * v], axis=1))


def plot_latent_map(trainer, dataset, path, n: int = 201, title: str = "") -> str:
    """G's map of a 2-D latent space: each z coloured by the mode G(z) lands on (left), and the
    modes in the same colours (right); grey where G(z) is not within 3 std of a mode, and a
    black cross on every mode that no z reaches (``npgan.evaluation.metrics.latent_mode_map``)."""
    plt = pyplot()  # before mode_colours: it needs matplotlib
    assign, extent = latent_mode_map(trainer, dataset, n)
    modes = dataset.modes()
    colours = B.host.vstack([mode_colours(modes), [[0.9, 0.9, 0.9]]])  # index -1: grey
    fig, (ax_z, ax_x) = plt.subplots(1, 2, figsize=(9, 4.4))
    ax_z.imshow(colours[assign], origin="lower", extent=(-extent, extent, -extent, extent),
                interpolation="nearest")
    ax_z.set_xlabel("z1")
    ax_z.set_ylabel("z2")
    prior = "U[-1, 1]^2" if trainer.noise == "uniform" else "N(0, I), shown on [-3, 3]^2"
    ax_z.set_title(f"latent space, z ~ {prior}", fontsize=9)
    reached = B.host.bincount(assign[assign >= 0], minlength=len(modes)) > 0
    ax_x.scatter(modes[:, 0], modes[:, 1], s=160, c=colours[:-1], edgecolors="k", linewidths=0.5)
    ax_x.scatter(modes[~reached, 0], modes[~reached, 1], marker="x", s=120, c="k",
                 label="no z reaches it")
    if not reached.all():
        ax_x.legend(loc="upper right", fontsize=7)
    ax_x.set_aspect("equal")
    ax_x.margins(0.15)
    ax_x.set_title(f"data space: the {len(modes)} modes ({int(reached.sum())} reached)", fontsize=9)
    fig.suptitle(title or f"where G sends each z ({dataset.name}); grey: G(z) not within 3 std of a mode",
                 fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_walks(trainer, dataset, path, pairs: int = 6, steps: int = 10, title: str = "") -> str:
    """Walks between random noise pairs (``npgan.evaluation.walks``): for image models a grid with
    a row per pair and path (linear, then spherical), ``steps`` images each; for 2-D data the
    paths of G(z) drawn over the data, one colour per pair (solid: spherical, dotted: linear)."""
    plt = pyplot()
    state = B.get_rng_state()
    walks = {}
    for kind in ("linear", "spherical"):
        B.set_rng_state(state)  # the same pairs of z for both paths
        walks[kind] = B.to_numpy(walk(trainer, pairs, steps, kind)[0])
    if walks["linear"].ndim == 5:  # images: (pairs, steps, C, H, W)
        rows = B.host.stack([walks["linear"], walks["spherical"]], axis=1).reshape((-1,) + walks["linear"].shape[2:])
        g = image_grid(rows, nrow=steps)
        fig, ax = plt.subplots(figsize=(steps * 0.7, 2 * pairs * 0.7 + 0.6))
        ax.imshow(g, cmap="gray" if g.ndim == 2 else None, vmin=0, vmax=1)
        ax.set_yticks([(i + 0.5) * g.shape[0] / (2 * pairs) for i in range(2 * pairs)],
                      ["linear", "spherical"] * pairs, fontsize=7)
        ax.set_xticks([])
    else:
        if walks["linear"].shape[-1] != 2:
            raise ValueError(f"plot_walks draws 2-D data or images; the samples have shape {walks['linear'].shape[2:]}")
        fig, ax = plt.subplots(figsize=(5.5, 5.5))
        data = B.to_numpy(dataset.sample(2000))
        ax.scatter(data[:, 0], data[:, 1], s=2, c="0.75", label="data")
        for i in range(pairs):
            colour = plt.cm.tab10(i % 10)
            ax.plot(*walks["spherical"][i].T, "-o", ms=2.5, lw=1, color=colour,
                    label="spherical path (solid)" if i == 0 else None)
            ax.plot(*walks["linear"][i].T, ":", lw=1, color=colour, label="linear path (dotted)" if i == 0 else None)
        ax.legend(loc="upper right", fontsize=8)
        ax.set_aspect("equal")
    ax.set_title(title or f"walks between {pairs} pairs of z, {steps} steps", fontsize=10)
    return save_figure(fig, path)


def grid_animation(frames, path, fps: float = 4.0) -> str:
    """An animated GIF of the PNG files ``frames`` (the fixed-noise grids of a run, in order),
    written atomically."""
    from matplotlib import animation  # optional: matplotlib (the plot extra)
    from matplotlib.image import imread  # optional: matplotlib (the plot extra)
    plt = pyplot()
    images = [imread(f) for f in frames]
    if not images:
        raise ValueError("grid_animation: no frames")
    h, w = images[0].shape[:2]
    for i, img in enumerate(images):  # titles may change a frame's size by a few pixels: fit each
        canvas = B.host.ones((h, w) + img.shape[2:], dtype=img.dtype)
        canvas[:min(h, img.shape[0]), :min(w, img.shape[1])] = img[:h, :w]
        images[i] = canvas
    fig = plt.figure(figsize=(w / 100, h / 100), dpi=100)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.axis("off")
    shown = ax.imshow(images[0])

    def update(i):
        shown.set_data(images[i])
        return (shown,)

    anim = animation.FuncAnimation(fig, update, frames=len(images), blit=True)
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f"{TEMP_PREFIX}{os.getpid()}.gif")
    try:
        anim.save(tmp, writer=animation.PillowWriter(fps=fps))
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)
    return os.fspath(path)
