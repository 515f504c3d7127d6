r"""Drawing the 2-D GAN lab (``npgan.gan.lab``): its frames, an animated GIF and one self-contained HTML page.

A frame (``LabFrame``, host arrays only) is what the lab recorded at one step; the scene
(``LabScene``) is what every frame shares: the view, the heat map's meaning and colour range,
and the one arrow scale of the whole run, so that the arrows of two frames can be compared.
Each frame shows

* D's output over the plane as a heat map: $\sigma(D(x))$, the probability D gives that $x$
  is real, for the cross-entropy losses (green: real, purple: fake, white: 1/2); the raw
  critic value $D(x)$ for the others;
* the real samples (green dots) and the fakes $G(z)$ (purple dots);
* at each fake, the arrow $-\partial \ell_G/\partial G(z)$: the signal G's backward receives
  for that sample ($N$ times the gradient of the batch mean $L_G$ over the $N$ fakes shown);
* the image under G of a grid of lines in the latent plane, drawn as curves.

Everything is written atomically (``npgan.io.atomic_write``). Pillow (which matplotlib needs)
writes the GIF.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import textwrap
from dataclasses import dataclass

from tqdm import tqdm

from .. import backend as B
from ..io import atomic_write
from .plot import pyplot, save_figure

PROBABILITY_LEVELS = (0.0, 0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95, 1.0)  # 1/2 is a band
REAL_COLOUR, FAKE_COLOUR, CURVE_COLOUR = "#1b7837", "#762a83", "#40004b"


@dataclass
class LabScene:
    """What every frame of one lab run shares (see the module docstring)."""

    title: str            # e.g. "ring8, non_saturating loss"
    extent: tuple         # (x0, x1, y0, y1): the square view, in data units
    probability: bool     # the heat map is sigma(D(x)) (True) or the raw critic value (False)
    total_steps: int
    heat_range: tuple = (0.0, 1.0)
    arrow_scale: float = 1.0   # arrow length in data units per unit of per-sample gradient norm
    arrow_key: float = 1.0     # the gradient norm of the key arrow in the legend

    @property
    def width(self) -> float:
        return self.extent[1] - self.extent[0]

    @property
    def heat_label(self) -> str:
        if self.probability:
            return "σ(D(x)): the probability D gives that x is real"
        return "D(x): the raw critic value (this loss uses no sigmoid)"


@dataclass
class LabFrame:
    """What the lab recorded at one step (host arrays)."""

    step: int
    heat: object      # (n, n): D's output (probability or raw) on the view's grid, rows along y
    real: object      # (M, 2)
    fake: object      # (N, 2): G(z) for the lab's fixed z
    arrows: object    # (N, 2): -dL_G/dG(z) for the batch mean L_G over these N fakes
    curves: object    # (lines, points, 2): G applied to the latent grid's lines
    d_reals: object   # (M,): D's output (as the heat map shows it) at each real sample
    d_fakes: object   # (N,): ... and at each fake

    @property
    def d_real(self) -> float:
        return float(self.d_reals.mean())

    @property
    def d_fake(self) -> float:
        return float(self.d_fakes.mean())

    def per_sample_arrows(self):
        r"""$-\partial\ell_G/\partial G(z_n) = N \cdot (-\partial L_G/\partial G(z_n))$: one fake's own signal."""
        return self.arrows * len(self.arrows)


def _nice(x: float) -> float:
    """The largest of 1, 2, 5 times a power of ten that is at most ``x`` (> 0)."""
    power = 10.0 ** math.floor(math.log10(x))
    return max(m * power for m in (1, 2, 5) if m * power <= x * (1 + 1e-9))


def fit_scene(scene: LabScene, frames, arrow_scale=None) -> LabScene:
    """Set the scene's arrow scale (one for all ``frames``) and, for a raw critic, its colour range.

    The 95th percentile of the per-sample arrow norms over every frame is drawn 12% of the
    view's width long, unless ``arrow_scale`` (data units per unit of gradient) is given."""
    hp = B.host
    norms = hp.concatenate([hp.linalg.norm(f.per_sample_arrows(), axis=1) for f in frames])
    typical = float(hp.percentile(norms, 95)) if norms.size else 0.0
    width = scene.width
    if arrow_scale is None:
        arrow_scale = 0.12 * width / typical if typical > 0 else 1.0
    scene.arrow_scale = float(arrow_scale)
    scene.arrow_key = _nice(0.12 * width / scene.arrow_scale)
    if not scene.probability:
        values = hp.concatenate([hp.ravel(f.heat) for f in frames])
        lo, hi = (float(v) for v in hp.percentile(values, [1, 99]))
        scene.heat_range = (lo, hi) if hi > lo else (lo - 1.0, lo + 1.0)
    return scene


def _pastel(plt):
    """PRGn (purple: fake, green: real) mixed half with white, so that the dots stand out."""
    from matplotlib.colors import ListedColormap  # optional: matplotlib (the plot extra)
    base = plt.get_cmap("PRGn")(B.host.linspace(0, 1, 256))
    base[:, :3] = 0.5 + 0.5 * base[:, :3]
    return ListedColormap(base)


def draw_frame(ax, frame: LabFrame, scene: LabScene, plt, arrows: bool = True):
    """Draw one frame into ``ax``; returns the heat map's artist (for a colour bar)."""
    hp = B.host
    x0, x1, y0, y1 = scene.extent
    n = frame.heat.shape[0]
    levels = PROBABILITY_LEVELS if scene.probability else hp.linspace(*scene.heat_range, 12)
    heat = ax.contourf(hp.linspace(x0, x1, n), hp.linspace(y0, y1, n), hp.clip(frame.heat, levels[0], levels[-1]), levels=levels,
                       cmap=_pastel(plt))
    for curve in frame.curves:
        ax.plot(curve[:, 0], curve[:, 1], color=CURVE_COLOUR, lw=0.6, alpha=0.45)
    ax.scatter(frame.real[:, 0], frame.real[:, 1], s=7, c=REAL_COLOUR, linewidths=0, label="real samples")
    ax.scatter(frame.fake[:, 0], frame.fake[:, 1], s=7, c=FAKE_COLOUR, linewidths=0, label="fakes G(z)")
    if arrows:
        g = frame.per_sample_arrows()
        ax.quiver(frame.fake[:, 0], frame.fake[:, 1], g[:, 0], g[:, 1], angles="xy", scale_units="xy",
                  scale=1.0 / scene.arrow_scale, width=0.0035, headwidth=3.5, minlength=0, color="black", alpha=0.8)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=7)
    return heat


def legend_text(scene: LabScene) -> str:
    """The caption every frame carries: what the colours, dots, curves and arrows are."""
    return (f"heat map: {scene.heat_label}.  Green dots: real samples; purple dots: fakes G(z); "
            f"curves: G applied to a grid of lines in the latent plane.  Arrows: −∂ℓ_G/∂G(z) at each fake, "
            f"the signal G's backward receives (N × the gradient of the batch mean L_G); one scale for every "
            f"frame: the key arrow has norm {scene.arrow_key:g}.")


def frame_figure(frame: LabFrame, scene: LabScene, history=()):
    """One frame as a figure: the plane, a colour bar, the key arrow, the mean of D at the
    samples over the frames so far (``history``: the earlier frames) and the caption."""
    plt = pyplot()
    fig = plt.figure(figsize=(5.2, 7.0))
    ax = fig.add_axes([0.11, 0.385, 0.84, 0.545])
    heat = draw_frame(ax, frame, scene, plt)
    ax.set_title(f"{_wrap(scene.title, 60)}\nstep {frame.step} / {scene.total_steps}", fontsize=9)
    _key_arrow(ax, scene)
    cax = fig.add_axes([0.11, 0.318, 0.84, 0.014])
    bar = fig.colorbar(heat, cax=cax, orientation="horizontal")
    bar.ax.tick_params(labelsize=6)
    bar.set_label(scene.heat_label, fontsize=7, labelpad=1)
    _trace(fig.add_axes([0.11, 0.135, 0.84, 0.12]), [*history, frame], scene)
    fig.text(0.03, 0.008, _wrap(legend_text(scene), 92), fontsize=6.3, va="bottom", ha="left")
    return fig


def _trace(ax, frames, scene: LabScene) -> None:
    """Mean D at the real samples and at the fakes shown, frame by frame up to this one."""
    steps = [f.step for f in frames]
    ax.plot(steps, [f.d_real for f in frames], "-", color=REAL_COLOUR, lw=1.2, label=f"real: {frames[-1].d_real:.3f}")
    ax.plot(steps, [f.d_fake for f in frames], "-", color=FAKE_COLOUR, lw=1.2, label=f"fakes: {frames[-1].d_fake:.3f}")
    if scene.probability:
        ax.axhline(0.5, color="gray", ls="--", lw=0.8)
        ax.set_ylim(0, 1)
    ax.set_xlim(0, scene.total_steps)
    ax.tick_params(labelsize=6)
    ax.set_ylabel("mean D", fontsize=7)
    ax.set_xlabel("step", fontsize=7, labelpad=1)
    ax.legend(fontsize=6, loc="upper right", ncol=2, frameon=False)
    ax.grid(alpha=0.3)


def _key_arrow(ax, scene: LabScene) -> None:
    """The key arrow, bottom left inside the plane: a gradient of norm ``scene.arrow_key``."""
    x0, _, y0, _ = scene.extent
    x, y = x0 + 0.04 * scene.width, y0 + 0.05 * scene.width
    length = scene.arrow_key * scene.arrow_scale
    ax.annotate("", xy=(x + length, y), xytext=(x, y),
                arrowprops=dict(arrowstyle="-|>", color="black", lw=1.2))
    ax.text(x, y + 0.025 * scene.width, f"|−∂ℓ_G/∂G(z)| = {scene.arrow_key:g}", fontsize=6.5, va="bottom")


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width))


def figure_png(fig, dpi: int = 80) -> bytes:
    """A figure as PNG bytes (closed afterwards)."""
    plt = pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def render_frames(frames, scene: LabScene, dpi: int = 80, progress: bool = False) -> list:
    """Every frame as PNG bytes, all the same size."""
    frames = list(frames)
    if progress:
        return [figure_png(frame_figure(f, scene, frames[:i]), dpi)
                for i, f in enumerate(tqdm(frames, desc="drawing frames", unit="frame", dynamic_ncols=True))]
    return [figure_png(frame_figure(f, scene, frames[:i]), dpi) for i, f in enumerate(frames)]


def _pillow():
    try:
        from PIL import Image  # optional: Pillow, which comes with matplotlib (the plot extra)
    except ImportError:
        raise RuntimeError("the lab's GIF needs Pillow (matplotlib's dependency): pip install -e '.[plot]'") from None
    return Image


def write_gif(pngs, path, fps: float = 8.0, hold_last: int = 8) -> str:
    """An animated GIF of the PNG images ``pngs`` (bytes), ``fps`` frames a second, looping,
    the last frame shown ``hold_last`` times as long; written atomically."""
    Image = _pillow()
    if not pngs:
        raise ValueError("write_gif: no frames")
    images = [Image.open(io.BytesIO(p)).convert("RGB").quantize(colors=128, dither=Image.Dither.NONE)
              for p in pngs]
    delay = int(round(1000.0 / fps))
    durations = [delay] * (len(images) - 1) + [delay * hold_last]
    with atomic_write(path) as f:
        images[0].save(f, format="GIF", save_all=True, append_images=images[1:], duration=durations,
                       loop=0, disposal=1)
    return os.fspath(path)


def write_html(pngs, steps, path, title: str, caption: str, total_steps: int, fps: float = 8.0) -> str:
    """One self-contained HTML page playing the frames (PNG bytes, embedded as data URIs):
    play, pause, step back and forward buttons, a slider, and the step shown. Vanilla
    JavaScript, nothing fetched from elsewhere: it works from ``file://``. Written atomically."""
    if len(pngs) != len(steps) or not pngs:
        raise ValueError(f"write_html: {len(pngs)} frames but {len(steps)} steps")
    uris = ["data:image/png;base64," + base64.b64encode(p).decode("ascii") for p in pngs]
    data = {"frames": uris, "steps": [int(s) for s in steps], "total": int(total_steps),
            "delay": int(round(1000.0 / fps))}
    script_data = json.dumps(data).replace("<", "\\u003c")
    page = (_HTML.replace("@TITLE@", html.escape(title)).replace("@CAPTION@", html.escape(caption))
            .replace("@FIRST@", uris[0]).replace("@LAST@", str(len(uris) - 1)).replace("@DATA@", script_data))
    with atomic_write(path, "w") as f:
        f.write(page)
    return os.fspath(path)


_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>@TITLE@</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 760px; color: #222; }
  h1 { font-size: 1.25em; }
  #lab-frame { display: block; max-width: 100%; border: 1px solid #ccc; }
  .controls { display: flex; align-items: center; gap: 0.4em; margin: 0.8em 0; flex-wrap: wrap; }
  .controls button { font-size: 1em; padding: 0.25em 0.7em; }
  #lab-slider { flex: 1; min-width: 12em; }
  #lab-step { font-variant-numeric: tabular-nums; min-width: 14em; }
  p.caption { font-size: 0.9em; color: #444; }
</style>
</head>
<body>
<h1>@TITLE@</h1>
<img id="lab-frame" src="@FIRST@" alt="the GAN lab frame at the step shown">
<div class="controls">
  <button id="lab-back" type="button" title="step back (left arrow)">&#9664;&#9664; back</button>
  <button id="lab-play" type="button" title="play (space)">&#9654; play</button>
  <button id="lab-pause" type="button" title="pause (space)">&#10074;&#10074; pause</button>
  <button id="lab-forward" type="button" title="step forward (right arrow)">forward &#9654;&#9654;</button>
  <input id="lab-slider" type="range" min="0" max="@LAST@" step="1" value="0" aria-label="frame">
  <span id="lab-step"></span>
</div>
<p class="caption">@CAPTION@</p>
<script>
"use strict";
(function () {
  const LAB = @DATA@;
  const img = document.getElementById("lab-frame");
  const slider = document.getElementById("lab-slider");
  const label = document.getElementById("lab-step");
  let index = 0;
  let timer = null;
  function show(i) {
    const n = LAB.frames.length;
    index = ((i % n) + n) % n;
    img.src = LAB.frames[index];
    slider.value = String(index);
    label.textContent = "step " + LAB.steps[index] + " / " + LAB.total + "  (frame " + (index + 1) + " of " + n + ")";
  }
  function play() {
    if (timer === null) { timer = setInterval(function () { show(index + 1); }, LAB.delay); }
  }
  function pause() {
    if (timer !== null) { clearInterval(timer); timer = null; }
  }
  document.getElementById("lab-play").addEventListener("click", play);
  document.getElementById("lab-pause").addEventListener("click", pause);
  document.getElementById("lab-back").addEventListener("click", function () { pause(); show(index - 1); });
  document.getElementById("lab-forward").addEventListener("click", function () { pause(); show(index + 1); });
  slider.addEventListener("input", function () { pause(); show(Number(slider.value)); });
  document.addEventListener("keydown", function (e) {
    if (e.target === slider) { return; }
    if (e.key === "ArrowLeft") { pause(); show(index - 1); }
    else if (e.key === "ArrowRight") { pause(); show(index + 1); }
    else if (e.key === " ") { e.preventDefault(); if (timer === null) { play(); } else { pause(); } }
  });
  show(0);
})();
</script>
</body>
</html>
"""


def plot_loss_contrast(frames: dict, scene: LabScene, path, title: str = "") -> str:
    """Runs under several G losses side by side: a row of frames per loss (one arrow scale,
    ``scene``'s), and each fake's arrow norm against $D(G(z))$ (log axes) for them all.

    ``frames``: ``{loss name: [LabFrame, ...]}``, the same steps for every loss."""
    plt = pyplot()
    hp = B.host
    names = list(frames)
    cols = len(frames[names[0]])
    fig = plt.figure(figsize=(3.7 * cols + 4.6, 3.9 * len(names) + 0.5))
    grid = fig.add_gridspec(len(names), cols + 1, width_ratios=[1] * cols + [1.25])
    colours = dict(zip(names, ["tab:red", "tab:blue", "tab:orange", "tab:green"]))
    markers = ["o", "^", "s", "D"]
    scatter = fig.add_subplot(grid[:, cols])
    for row, name in enumerate(names):
        for col, f in enumerate(frames[name]):
            ax = fig.add_subplot(grid[row, col])
            draw_frame(ax, f, scene, plt)
            _key_arrow(ax, scene)
            norms = hp.linalg.norm(f.per_sample_arrows(), axis=1)
            ax.set_title(f"{name}, step {f.step}\nmedian |−∂ℓ_G/∂G(z)| = {float(hp.median(norms)):.3g}",
                         fontsize=8.5, color=colours[name])
            scatter.loglog(hp.clip(f.d_fakes, 1e-12, None), hp.clip(norms, 1e-12, None), markers[col % 4], ms=2.5,
                           alpha=0.6, color=colours[name], label=f"{name}, step {f.step}")
    scatter.set_xlabel("D(G(z)) at each fake", fontsize=8)
    scatter.set_ylabel("|−∂ℓ_G/∂G(z)|, one fake's signal", fontsize=8)
    scatter.grid(alpha=0.3, which="major")
    scatter.legend(fontsize=7, markerscale=2)
    scatter.set_title("each fake's signal against D's verdict on it", fontsize=9)
    fig.suptitle(title or scene.title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_lab_stages(frames, scene: LabScene, path, title: str = "", ncols: int = 3) -> str:
    """Frames (e.g. the first, a few in between and the last) in rows of ``ncols``, one arrow scale."""
    plt = pyplot()
    ncols = min(ncols, len(frames))
    nrows = -(-len(frames) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.7 * nrows + 0.6), squeeze=False)
    for ax in axes.flat[len(frames):]:
        ax.axis("off")
    for ax, f in zip(axes.flat, frames):
        heat = draw_frame(ax, f, scene, plt)
        ax.set_title(f"step {f.step}: mean D real {f.d_real:.2f}, fake {f.d_fake:.2f}", fontsize=8)
    _key_arrow(axes.flat[0], scene)
    fig.suptitle(title or f"{scene.title}: D's verdict, the fakes, their arrows (one scale) and G's latent grid",
                 fontsize=10)
    bottom = 0.6 / (3.7 * nrows + 0.6)
    fig.tight_layout(rect=(0, bottom + 0.02, 1, 1), h_pad=1.6)
    cax = fig.add_axes([0.3, bottom * 0.55, 0.4, bottom * 0.18])
    bar = fig.colorbar(heat, cax=cax, orientation="horizontal")
    bar.ax.tick_params(labelsize=6)
    bar.set_label(scene.heat_label, fontsize=7)
    return save_figure(fig, path)
