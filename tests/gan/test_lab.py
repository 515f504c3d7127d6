"""The 2-D GAN lab (``npgan.gan.lab``): what it writes, that its arrows are G's true signal, and its page in a browser."""

import base64
import io
import re
import shutil

import numpy as np
import pytest

from helpers import generator_loss
from npgan import backend as B
from npgan.gan import GAN_LOSSES, GANTrainer, make_loss, mlp_discriminator, mlp_generator
from npgan.gan.lab import frame_steps, generator_arrows, loss_contrast, run_lab
from npgan.gradcheck import compare, numerical_gradient

Image = pytest.importorskip("PIL.Image")
pytest.importorskip("matplotlib")

TINY = dict(steps=6, frames=3, hidden=16, depth=1, batch_size=32, samples=20, dpi=40, progress=False)
CONTROLS = ("lab-play", "lab-pause", "lab-back", "lab-forward", "lab-slider", "lab-step")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("lab")
    return run_lab(out=str(out), **TINY)


def test_a_tiny_run_writes_a_gif_with_one_image_per_frame(tiny_run):
    with Image.open(tiny_run["gif"]) as gif:
        assert gif.format == "GIF" and gif.n_frames == TINY["frames"]
        assert gif.info.get("loop") == 0  # loops forever


def test_the_html_page_holds_the_controls_and_every_frame_and_nothing_from_elsewhere(tiny_run):
    page = open(tiny_run["html"], encoding="utf-8").read()
    for control in CONTROLS:
        assert f'id="{control}"' in page
    uris = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert len(set(uris)) == TINY["frames"]  # each frame once in the data, and the first as the initial image
    sizes = {Image.open(io.BytesIO(base64.b64decode(u))).size for u in uris}
    assert len(sizes) == 1  # every frame the same size: the page does not jump
    for outside in ("<script src", "<link", "@import", "src=\"http", "url("):
        assert outside not in page
    steps = re.search(r'"steps": \[([0-9, ]+)\]', page).group(1)
    assert [int(s) for s in steps.split(",")] == frame_steps(TINY["steps"], TINY["frames"]) == [0, 3, 6]


def _small_gan(loss, seed=3):
    B.seed(seed)
    G, D = mlp_generator(2, 2, hidden=8, depth=2), mlp_discriminator(2, hidden=8, depth=2)
    return GANTrainer(G, D, 2, loss=loss, noise="uniform")


@pytest.mark.parametrize("loss", sorted(GAN_LOSSES))
def test_the_arrows_are_minus_the_gradient_of_gs_loss_in_the_fakes(f64, loss):
    trainer = _small_gan(loss)
    z, real = B.uniform((5, 2), -1.0, 1.0), B.normal((5, 2))
    fake, arrows, _ = generator_arrows(trainer, z, real)
    x = fake.copy()
    out_real = trainer.discriminator.forward(real, training=False)

    def g_loss():  # L_G as a function of the fake samples alone (D's outputs on the real ones held)
        return float(generator_loss(trainer.loss, trainer.discriminator.forward(x, training=False), out_real)[0])

    numeric, count = numerical_gradient(g_loss, x)
    err = compare("dL_G/dG(z)", -B.to_numpy(arrows), B.to_numpy(numeric), count)
    assert err.max_rel < 1e-6, err


def test_a_joint_loss_s_arrows_need_the_real_samples_and_its_lab_runs(tmp_path):
    trainer = _small_gan("relativistic")
    with pytest.raises(ValueError, match="compares each fake with a real sample"):
        generator_arrows(trainer, B.uniform((4, 2), -1.0, 1.0))
    paths = run_lab(out=str(tmp_path), loss="relativistic", **TINY)
    with Image.open(paths["gif"]) as gif:
        assert gif.n_frames == TINY["frames"]


def test_computing_the_arrows_leaves_ds_parameters_and_their_gradients_as_they_were():
    trainer = _small_gan("non_saturating")
    nets = (trainer.discriminator, trainer.generator)
    for net in nets:
        for p in net.parameters():
            p.grad[...] = B.normal(p.shape)  # gradients in the middle of being accumulated
    before = [[(B.to_numpy(p.data, copy=True), B.to_numpy(p.grad, copy=True)) for p in net.parameters()] for net in nets]
    generator_arrows(trainer, B.uniform((64, 2), -1.0, 1.0))
    for net, saved in zip(nets, before):
        for p, (data, grad) in zip(net.parameters(), saved):
            np.testing.assert_array_equal(B.to_numpy(p.data), data)
            np.testing.assert_array_equal(B.to_numpy(p.grad), grad)
    assert trainer.discriminator.requires_grad  # unfrozen again


def test_where_d_rejects_the_fakes_the_minimax_arrows_vanish_and_the_non_saturating_ones_do_not(f64):
    trainer = _small_gan("minimax")
    trainer.discriminator[-1].bias.data[...] = -9.0  # D confidently rejects everything: D(x) ~ 1e-4
    z = B.uniform((50, 2), -1.0, 1.0)
    _, minimax, logits = generator_arrows(trainer, z)
    trainer.loss = make_loss("non_saturating")
    _, non_saturating, _ = generator_arrows(trainer, z)
    trainer.loss = make_loss("wasserstein")  # dL_G/dD = -1/N: its arrows are the logit's own slope, grad_x a / N
    _, slope, _ = generator_arrows(trainer, z)
    d = 1.0 / (1.0 + np.exp(-B.to_numpy(logits)[:, 0]))
    assert d.max() < 1e-3
    small, large, full = (np.linalg.norm(B.to_numpy(a), axis=1) for a in (minimax, non_saturating, slope))
    # same D, same fakes: the arrows differ only by dL_G/da, -D (minimax) against D - 1 (non-saturating)
    np.testing.assert_allclose(small / full, d, rtol=1e-9)
    np.testing.assert_allclose(large / full, 1 - d, rtol=1e-9)
    assert (small < 1e-3 * large).all()  # minimax: under a thousandth of the non-saturating signal
    assert (large > 0.999 * full).all()  # non-saturating: the logit's full slope


def test_the_contrast_figure_is_drawn(tmp_path):
    path = loss_contrast(str(tmp_path / "contrast.png"), d_warmup=5, step=2, samples=20, hidden=16, depth=1,
                         batch_size=32)
    with Image.open(path) as img:
        assert img.format == "PNG" and img.size[0] > 500


@pytest.mark.parametrize("bad, says", [
    (dict(data="nope"), "unknown data set"),
    (dict(data="gauss1d"), "not 2-D"),
    (dict(data="fashion-mnist"), "not 2-D"),
    (dict(steps=0), "steps must be"),
    (dict(steps=2.5), "steps must be"),
    (dict(frames=1), "frames must be"),
    (dict(steps=5, frames=6), "frames must be"),
    (dict(loss="nope"), "unknown GAN loss"),
    (dict(noise="cauchy"), "noise must be"),
    (dict(fps=0), "fps must be"),
    (dict(hidden=0), "hidden must be"),
])
def test_bad_input_is_refused_in_one_line_before_any_work(tmp_path, bad, says):
    out = tmp_path / "never"
    with pytest.raises(ValueError, match=says) as info:
        run_lab(out=str(out), **{**TINY, **bad})
    assert "\n" not in str(info.value)
    assert not out.exists()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def test_the_page_plays_and_pauses_in_headless_chromium(tiny_run):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the browser check needs playwright")
    if CHROMIUM is None:
        pytest.skip("no Chromium (Debian: apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
            page.goto("file://" + tiny_run["html"], wait_until="load")

            def shown():
                return page.evaluate("() => [document.getElementById('lab-step').textContent, "
                                     "document.getElementById('lab-frame').src]")

            first = shown()
            assert first[0].startswith("step 0 / 6")
            page.click("#lab-play")
            page.wait_for_function("t => document.getElementById('lab-step').textContent !== t", arg=first[0],
                                   timeout=5000)
            page.click("#lab-pause")
            paused = shown()
            assert paused != first
            page.wait_for_timeout(400)  # three frame delays: a paused page stays put
            assert shown() == paused
            page.evaluate("() => { const s = document.getElementById('lab-slider'); s.value = '0'; "
                          "s.dispatchEvent(new Event('input')); }")
            assert shown()[0].startswith("step 0 / 6")
            page.click("#lab-forward")
            assert shown()[0].startswith("step 3 / 6")
            page.click("#lab-back")
            page.click("#lab-back")
            assert shown()[0].startswith("step 6 / 6")  # back from the first frame wraps to the last
            assert errors == []
        finally:
            browser.close()


def test_the_command_line_writes_the_lab_and_refuses_what_it_cannot_draw(tmp_path, capsys):
    from npgan.cli import main
    assert main(["lab", "--steps", "20", "--frames", "3", "--out", str(tmp_path / "lab"), "--no-progress"]) == 0
    assert (tmp_path / "lab" / "lab.gif").stat().st_size > 0 and (tmp_path / "lab" / "lab.html").stat().st_size > 0
    capsys.readouterr()
    assert main(["lab", "--data", "gauss1d", "--out", str(tmp_path / "one-d")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "gauss1d is not 2-D" in err and not (tmp_path / "one-d").exists()
