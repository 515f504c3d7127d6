r"""The 2-D GAN lab: train a small GAN on a 2-D data set and watch the game, in the spirit of GAN Lab.

`run_lab` trains `GANTrainer` (MLPs from `npgan.gan.models`, the data set's recipe from
`npgan.gan.config`, a 2-D latent plane) and records `frames` snapshots, at evenly spaced
steps from 0 (before training) to the last. A snapshot (`npgan.evaluation.lab_plot.LabFrame`)
holds:

* D's output on a grid over the plane: $\sigma(D(x))$ for the cross-entropy losses (the
  probability that $x$ is real), the raw critic value $D(x)$ for the others;
* a fixed set of real samples, and the fakes $G(z)$ of a fixed set of noise vectors $z$;
* at each fake, $-\partial L_G/\partial G(z)$, computed as G's own update computes it
  (`generator_arrows`): the loss's gradient with respect to D's outputs, then D's backward
  to its input, D frozen so that its weight gradients are neither computed nor changed;
* the image under G of a grid of lines in the latent plane (the prior's support
  $[-1, 1]^2$ for uniform noise, $[-2, 2]^2$ for normal noise).

The frames are drawn (`npgan.evaluation.lab_plot`) with one arrow scale for the whole run,
and written as an animated GIF and as one self-contained HTML page with play, pause,
step and a slider.

**What to look for.** As $p_g$ approaches $p_\text{data}$ the optimal discriminator
$D^* = p_\text{data}/(p_\text{data} + p_g)$ tends to 1/2 wherever the samples are, and the
heat map fades to the white band around 1/2. With `loss="minimax"`, whose
$\partial L_G/\partial a = -D(G(z))/N$ in D's logit $a$, the arrows vanish where D
confidently rejects the fakes; with `"non_saturating"`, $\partial L_G/\partial a = (D(G(z)) - 1)/N$,
they are strongest there. `d_warmup` trains D alone first, so that it does reject them
(`loss_contrast` draws both losses' arrows on the same D and G).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .. import backend as B
from ..data import DATASETS, check_name, get_dataset, is_image
from ..evaluation import lab_plot
from ..evaluation.lab_plot import LabFrame, LabScene
from ..io import check_writable
from ..nn import frozen
from ..training import fit
from .config import make_config
from .losses import GANLoss, make_loss
from .runner import build

LAB_NOISE = ("uniform", "normal")
LATENT_HALF_WIDTH = {"uniform": 1.0, "normal": 2.0}  # the latent grid covers [-h, h]^2
GRID_LINES, GRID_POINTS = 11, 61  # the latent grid: lines per direction, points per line


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_lab(data, steps, frames, loss="non_saturating", noise="uniform", d_warmup=0, samples=256) -> None:
    """Refuse what `run_lab` cannot do, in one line (a `ValueError`), before any work."""
    if not isinstance(data, str):
        raise ValueError(f"data must be the name of a 2-D data set, got {data!r}")
    check_name(data)
    if is_image(data) or get_dataset(data).dim != 2:
        flat = sorted(n for n, d in DATASETS.items() if d.dim == 2)
        raise ValueError(f"the lab draws 2-D data sets ({', '.join(flat)}); {data} is not 2-D")
    if not _is_int(steps) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if not _is_int(frames) or not 2 <= frames <= steps:
        raise ValueError(f"frames must be an integer from 2 to steps ({steps}), got {frames!r}")
    if not isinstance(loss, str):
        raise ValueError(f"loss must be the name of a GAN loss, got {loss!r}")
    make_loss(loss)  # an unknown name: ValueError listing the losses
    if noise not in LAB_NOISE:
        raise ValueError(f"noise must be one of {LAB_NOISE}, got {noise!r}")
    if not _is_int(d_warmup) or d_warmup < 0:
        raise ValueError(f"d_warmup must be a non-negative integer, got {d_warmup!r}")
    if not _is_int(samples) or not 2 <= samples <= 10_000:
        raise ValueError(f"samples must be an integer from 2 to 10000, got {samples!r}")


def lab_config(data="ring8", steps=2000, loss="non_saturating", seed=0, noise="uniform", **options) -> dict:
    """The run's config: npgan's defaults and the data set's recipe (`make_config`) with a
    2-D latent plane; `options` (hidden, depth, d_steps, batch_size, lr, ...; None: the
    default) override them."""
    given = {k: v for k, v in options.items() if v is not None}
    return make_config(data=data, trainer="gan", loss=loss, steps=steps, seed=seed, latent_dim=2,
                       noise=noise, **given)


def generator_arrows(trainer, z, real=None):
    r"""`(fakes, arrows, out)` for noise `z`: $G(z)$, $-\partial L_G/\partial G(z)$ and D's outputs on the fakes.

    $L_G$ is the loss's generator term, the mean over the $N$ rows of `z`, exactly as a
    generator step computes it: the loss gives $\partial L_G/\partial\,\text{out}$ for D's
    outputs (logits, for the cross-entropy losses); D's backward, with D frozen, carries it
    to D's input. A joint loss (`GANLoss.joint`) compares each fake with a real sample: it
    needs `real`, $N$ real samples, fake $n$ paired with real sample $n$. D's parameters and
    their `.grad` are left as they were. G and D run in evaluation mode (no BatchNorm
    statistics are updated).
    """
    G, D = trainer.generator, trainer.discriminator
    if trainer.loss.joint and real is None:
        raise ValueError(f"generator_arrows: the {trainer.loss.name} loss compares each fake with a real sample; "
                         f"pass as many real samples as noise vectors")
    out_real = D.forward(real, training=False) if trainer.loss.joint else None  # before the pass backpropagated
    fake = G.forward(trainer.generator_input(z), training=False)
    out = D.forward(fake, training=False)
    _, grad_out = trainer.loss.generator(out, out_real) if trainer.loss.joint else trainer.loss.generator(out)
    with frozen(D):
        grad_fake = D.backward(grad_out)
    return fake, -grad_fake, out


def shows_probability(loss: GANLoss) -> bool:
    r"""Whether the loss reads D's output as a logit, so that the heat map shows $\sigma(D(x))$."""
    return type(loss).probability is GANLoss.probability


@dataclass
class _Setup:
    """What every snapshot of one run reads: the trainer and the fixed points it is shown at."""

    trainer: object
    z: object        # (N, 2) fixed noise: the fakes shown
    real: object     # (M, 2) fixed real samples
    plane: object    # (n*n, 2): the heat map's grid
    latent: object   # (lines * points, 2): the latent grid's lines
    heat_n: int
    probability: bool


def lab_scene(dataset, title: str, probability: bool, total_steps: int) -> LabScene:
    """The square view around the data's modes, with a margin of 40% of their half-span."""
    modes = dataset.modes()
    lo, hi = modes.min(axis=0), modes.max(axis=0)
    (cx, cy), half = (lo + hi) / 2, 1.4 * float((hi - lo).max()) / 2 + 10 * dataset.std + 0.1
    return LabScene(title=title, extent=(float(cx) - half, float(cx) + half, float(cy) - half, float(cy) + half),
                    probability=probability, total_steps=total_steps)


def _setup(trainer, dataset, scene: LabScene, samples: int, heat_n: int = 101) -> _Setup:
    """The fixed noise, real samples, plane grid and latent grid (drawn from the seeded generator)."""
    hp = B.host
    z, real = trainer.sample_noise(samples), dataset.sample(samples)
    x0, x1, y0, y1 = scene.extent
    xx, yy = hp.meshgrid(hp.linspace(x0, x1, heat_n), hp.linspace(y0, y1, heat_n))  # row j: y = y0 + j dy
    plane = B.asarray(hp.stack([xx.ravel(), yy.ravel()], axis=1), dtype=B.get_dtype())
    h = LATENT_HALF_WIDTH[trainer.noise]
    t, c = hp.linspace(-h, h, GRID_POINTS), hp.linspace(-h, h, GRID_LINES)
    lines = [hp.stack([t, hp.full_like(t, v)], axis=1) for v in c]      # z2 fixed
    lines += [hp.stack([hp.full_like(t, v), t], axis=1) for v in c]     # z1 fixed
    latent = B.asarray(hp.concatenate(lines), dtype=B.get_dtype())
    return _Setup(trainer, z, real, plane, latent, heat_n, scene.probability)


def snapshot(s: _Setup, step: int) -> LabFrame:
    """What the lab shows of the trainer now (host arrays)."""
    t = s.trainer
    fake, arrows, out_fake = generator_arrows(t, s.z, s.real)  # first: D's backward follows its own forward

    def shown(out):
        return B.to_numpy(t.loss.probability(out) if s.probability else out)[:, 0]

    out_real = t.discriminator.forward(s.real, training=False)
    heat = shown(t.discriminator.forward(s.plane, training=False)).reshape(s.heat_n, s.heat_n)
    curves = B.to_numpy(t.sample(s.latent.shape[0], s.latent)).reshape(2 * GRID_LINES, GRID_POINTS, 2)
    return LabFrame(step=int(step), heat=heat, real=B.to_numpy(s.real), fake=B.to_numpy(fake),
                    arrows=B.to_numpy(arrows), curves=curves, d_reals=shown(out_real), d_fakes=shown(out_fake))


def frame_steps(steps: int, frames: int) -> list:
    """`frames` distinct steps evenly spaced from 0 (before training) to `steps`."""
    return [round(i * steps / (frames - 1)) for i in range(frames)]


def _train(s: _Setup, dataset, cfg: dict, wanted, progress: bool) -> list:
    """Train for cfg["steps"] steps, snapshotting after each step in `wanted`; the snapshots."""
    t = s.trainer
    recorded = [snapshot(s, 0)] if 0 in wanted else []

    def step_fn(step):
        stats = t.train_step(dataset.sample(t.rows_per_step(cfg["batch_size"])))
        if step + 1 in wanted:
            recorded.append(snapshot(s, step + 1))
        return stats

    def on_log(done, record):
        return {"D(x)": f"{record['d_real']:.3f}", "D(G(z))": f"{record['d_fake']:.3f}"}

    fit(step_fn, t.optimizers(), lr=cfg["lr"], total=cfg["steps"], decay=cfg["lr_decay"],
        log_every=max(1, cfg["steps"] // 100), on_log=on_log if progress else None,
        progress=f"lab {cfg['data']} ({cfg['loss']})" if progress else None)
    return recorded


def _prepare(data, steps, loss, seed, noise, d_warmup, samples, options):
    """(setup, dataset, config, scene): the trainer built from the config's seed, D warmed up."""
    cfg = lab_config(data, steps, loss, seed, noise, **options)
    trainer, dataset = build(cfg)  # seeds npgan's generator with cfg["seed"]
    scene = lab_scene(dataset, f"{data}, {loss} loss", shows_probability(trainer.loss), steps)
    setup = _setup(trainer, dataset, scene, samples)
    for _ in range(d_warmup):  # D alone, as against a fixed G: it learns to reject the fakes
        trainer.discriminator_step(dataset.sample(cfg["batch_size"]))
    if d_warmup:
        scene.title += f", D trained alone for {d_warmup} steps first"
    return setup, dataset, cfg, scene


def record_lab(data="ring8", steps=2000, loss="non_saturating", frames=40, seed=0, *, noise="uniform",
               d_warmup=0, samples=256, progress=True, **options):
    """Train and record: `(frames, scene)` (`LabFrame`s, and the `LabScene` they share, its
    arrow scale not yet fitted). Arguments as for `run_lab`."""
    check_lab(data, steps, frames, loss, noise, d_warmup, samples)
    setup, dataset, cfg, scene = _prepare(data, steps, loss, seed, noise, d_warmup, samples, options)
    return _train(setup, dataset, cfg, set(frame_steps(steps, frames)), progress), scene


def write_lab(frames, scene: LabScene, out="runs/lab", fps: float = 8.0, arrow_scale=None, dpi: int = 80,
              progress: bool = False) -> dict:
    """Draw `frames` (one arrow scale, `arrow_scale` or fitted to them) and write
    `out/lab.gif` and `out/lab.html` atomically; `{"gif": path, "html": path}`."""
    lab_plot.fit_scene(scene, frames, arrow_scale)
    pngs = lab_plot.render_frames(frames, scene, dpi=dpi, progress=progress)
    paths = {"gif": os.path.join(out, "lab.gif"), "html": os.path.join(out, "lab.html")}
    lab_plot.write_gif(pngs, paths["gif"], fps)
    lab_plot.write_html(pngs, [f.step for f in frames], paths["html"], title=f"npgan GAN lab: {scene.title}",
                        caption=lab_plot.legend_text(scene), total_steps=scene.total_steps, fps=fps)
    return paths


def run_lab(data="ring8", steps=2000, loss="non_saturating", out="runs/lab", frames=40, seed=0, *,
            noise="uniform", d_warmup=0, samples=256, fps=8.0, arrow_scale=None, dpi=80, progress=True,
            hidden=None, depth=None, d_steps=None, batch_size=None, lr=None) -> dict:
    r"""Train a GAN on the 2-D data set `data` and record it: `{"gif": path, "html": path}`.

    `steps` training steps of `GANTrainer` with the G loss `loss` (a name in `GAN_LOSSES`),
    seeded by `seed`; `frames` snapshots at evenly spaced steps from 0 to `steps` (module
    docstring), drawn into `out/lab.gif` (`fps` frames a second, looping) and `out/lab.html`
    (one self-contained page: play, pause, step back and forward, a slider), both written
    atomically. The networks and optimiser follow the data set's recipe in
    `npgan.gan.config` (ring8: 3 hidden layers of 128 units, 2 D steps per G step, Adam at
    $10^{-3}$ decayed linearly to 0); `hidden`, `depth`, `d_steps`, `batch_size` and `lr`
    override it. The latent plane is 2-D, with `noise` `"uniform"` ($U[-1, 1]^2$, the
    default: the latent grid drawn is the prior's whole support) or `"normal"`.
    `d_warmup` D steps come first, G fixed. `samples`: how many real samples and fakes each
    frame shows. `arrow_scale`: the arrows' length in data units per unit of gradient
    (default: fitted to the run). A tqdm bar shows the progress unless `progress=False`.

    Bad input (an unknown or non-2-D data set, `steps` < 1, `frames` < 2 or > `steps`, an
    unknown loss) raises a one-line `ValueError` before any work.
    """
    check_lab(data, steps, frames, loss, noise, d_warmup, samples)
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0.1 <= fps <= 50:
        raise ValueError(f"fps must be a number from 0.1 to 50, got {fps!r}")
    if not _is_int(dpi) or not 20 <= dpi <= 400:
        raise ValueError(f"dpi must be an integer from 20 to 400, got {dpi!r}")
    options = dict(hidden=hidden, depth=depth, d_steps=d_steps, batch_size=batch_size, lr=lr)
    lab_config(data, steps, loss, seed, noise, **options)  # refuses a bad option before the folder is made
    for name in ("lab.gif", "lab.html"):
        check_writable(os.path.join(out, name))
    recorded, scene = record_lab(data, steps, loss, frames, seed, noise=noise, d_warmup=d_warmup,
                                 samples=samples, progress=progress, **options)
    return write_lab(recorded, scene, out, fps, arrow_scale, dpi, progress)


def loss_contrast(path, data="ring8", d_warmup=300, step=10, seed=0, losses=("minimax", "non_saturating"), *,
                  noise="uniform", samples=256, **options) -> str:
    r"""The same start under several G losses: a figure of their arrows (one scale) at step 0
    and at `step`, and of each fake's arrow norm against $D(G(z))$; returns `path`.

    Every run is built from `seed` and D is first trained alone for `d_warmup` steps, until
    it rejects the fakes confidently (D's loss terms are the same for every cross-entropy
    loss, so at step 0 the runs share one D and one G: only the loss's gradient differs).
    Then each trains `step` steps at a constant learning rate."""
    for loss in losses:
        check_lab(data, max(step, 2), 2, loss, noise, d_warmup, samples)
    if len({shows_probability(make_loss(loss)) for loss in losses}) != 1:
        raise ValueError(f"loss_contrast compares losses that read D's output alike (all logits or all raw); got {losses}")
    shown = {}
    for loss in losses:
        setup, dataset, cfg, scene = _prepare(data, step, loss, seed, noise, d_warmup, samples,
                                              {**options, "lr_decay": "none"})
        shown[loss] = _train(setup, dataset, cfg, {0, step}, progress=False)
    scene.title = (f"{data}: one start (seed {seed}, D trained alone for {d_warmup} steps, G as initialised), "
                   f"then {step} steps under each G loss; one arrow scale")
    lab_plot.fit_scene(scene, [f for fs in shown.values() for f in fs])
    return lab_plot.plot_loss_contrast(shown, scene, path)
