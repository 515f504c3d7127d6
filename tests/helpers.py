"""Helpers shared by the tests: gradient checks, and the generic checks every registered GAN
loss and trainer passes (``tests/gan/test_gan_losses.py`` and ``tests/gan/test_trainers.py``
run them over the registries; ``tests/gan/test_new_loss_and_trainer.py`` on toys added as the guide says)."""

import math
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from npgan import backend as B
from npgan import kernels, nn, runtime
from npgan.gan import GANTrainer
from npgan.gan.losses import FIGURES
from npgan.gan.runner import build
from npgan.gradcheck import GradcheckReport, compare, double_gradcheck, gradcheck, gradcheck_loss, numerical_gradient

TOL = 1e-6  # relative error bound in float64 (a correct pass gives ~1e-9, a wrong one O(1))


def assert_grads_ok(layer, x, training=True, max_checks=150):
    return gradcheck(layer, x, training=training, max_checks=max_checks).check(TOL)


def assert_double_grads_ok(layer, x, training=True, max_checks=100):
    return double_gradcheck(layer, x, training=training, max_checks=max_checks).check(TOL)


def assert_param_grads(f, named_params, what="f()"):
    """f() returns a loss and fills the parameters' .grad; compare with central differences.

    All analytic gradients are taken first, at the unperturbed point: each numerical
    evaluation refills .grad at a perturbed one. A failure raises ``GradcheckError`` with the
    report: each failing parameter's worst entries, expected and received.
    """
    named_params = list(named_params)
    f()
    analytic = {name: p.grad.copy() for name, p in named_params}
    report = GradcheckReport(what, tol=TOL)
    for name, p in named_params:
        num, n = numerical_gradient(lambda: float(f()), p.data)
        report.rows.append(compare(name, analytic[name], num, n))
    return report.check()


# -- every GAN loss ------------------------------------------------------------------------------

# (D's output on every real sample, on every fake): away from the hinge's kinks at +-1
CONSTANT_OUTPUTS = ((0.0, 0.0), (0.7, -1.3), (-2.0, 0.4), (1.5, 1.5), (3.0, -0.5), (-0.9, -2.5))


def generator_loss(loss, fake_out, real_out):
    """G's loss as the trainer calls it: a joint loss is given D's outputs on the real batch too."""
    return loss.generator(fake_out, real_out) if loss.joint else loss.generator(fake_out)


def assert_gan_loss_gradients(loss, real_out, fake_out):
    """Every gradient the trainer takes from ``loss``, against central differences in float64:
    D's loss with respect to each batch's outputs (the other batch's held), G's with respect to
    the fakes'. A separable loss's terms, which the trainer calls one by one, must also be what
    its ``discriminator`` sums."""
    checks = {
        "discriminator, real outputs": (lambda o, _t: loss.discriminator(o, fake_out)[:2], real_out),
        "discriminator, fake outputs": (lambda o, _t: loss.discriminator(real_out, o)[::2], fake_out),
        "generator, fake outputs": (lambda o, _t: generator_loss(loss, o, real_out), fake_out),
    }
    for what, (fn, at) in checks.items():
        gradcheck_loss(fn, at, None, name=f"{loss!r}: {what}").check(TOL)
    if not loss.joint:
        value, grad_real, grad_fake = loss.discriminator(real_out, fake_out)
        (v_real, g_real), (v_fake, g_fake) = loss.discriminator_real(real_out), loss.discriminator_fake(fake_out)
        assert float(value) == pytest.approx(float(v_real + v_fake), rel=1e-12, abs=1e-12), repr(loss)
        np.testing.assert_allclose(B.to_numpy(grad_real), B.to_numpy(g_real), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(B.to_numpy(grad_fake), B.to_numpy(g_fake), rtol=1e-12, atol=1e-15)


def _constant(value, n):
    return B.get_backend().full((n, 1), value, dtype=B.get_dtype())


def assert_gan_loss_closed_form(loss, n=6):
    """At constant outputs of D (one on the real batch, one on the fakes), the code's values of
    D's and G's losses are what the loss's ``closed_form`` works out by hand."""
    for r, f in CONSTANT_OUTPUTS:
        real, fake = _constant(r, n), _constant(f, n)
        want = loss.closed_form(r, f)
        got = {"d_loss": float(loss.discriminator(real, fake)[0]), "g_loss": float(generator_loss(loss, fake, real)[0])}
        for key in ("d_loss", "g_loss"):
            assert got[key] == pytest.approx(want[key], rel=1e-12, abs=1e-12), (
                f"{loss!r} with D(x) = {r}, D(G(z)) = {f}: {key} = {got[key]!r} by the code, "
                f"{want[key]!r} by closed_form")


def _figures(loss, c, n=4):
    """The logged figures when D outputs the constant c on both batches (as at p_g = p_data)."""
    d = _constant(c, n)
    shown = float(loss.probability(d).mean())
    return {"d_loss": float(loss.discriminator(d, d)[0]), "g_loss": float(generator_loss(loss, d, d)[0]),
            "d_real": shown, "d_fake": shown}


def assert_gan_loss_equilibrium(loss, step=0.05):
    """The loss curves' reference lines (``equilibrium()``) are the logged figures at every
    output of an optimal D for p_g = p_data (``equilibrium_outputs()``), and each such output
    is a minimum of D's loss among constant discriminators: nearby constants do no better."""
    lines, outputs = loss.equilibrium(), loss.equilibrium_outputs()
    assert set(lines) <= set(FIGURES), f"{loss!r}: equilibrium lines for {sorted(set(lines) - set(FIGURES))}"
    assert outputs or not lines, f"{loss!r}: equilibrium() gives lines but equilibrium_outputs() no output"
    for c in outputs:
        figures = _figures(loss, c)
        for key, (value, label) in lines.items():
            assert figures[key] == pytest.approx(value, abs=1e-12), f"{loss!r} at D = {c}: {key} {figures[key]!r}, line {label}"
        for nearby in (c - step, c + step):
            assert _figures(loss, nearby)["d_loss"] >= figures["d_loss"] - 1e-12, (
                f"{loss!r}: D = {nearby} does better than the optimal D = {c}")


def small_gan(loss, pack=1):
    """A small GAN (G: 3 -> 2, D on `pack` samples) for gradient checks in float64."""
    G = nn.Sequential(nn.Dense(3, 6), nn.Tanh(), nn.Dense(6, 2))
    D = nn.Sequential(nn.Dense(2 * pack, 5), nn.LeakyReLU(0.2), nn.Dense(5, 1))
    return GANTrainer(G, D, 3, loss=loss, pack=pack)


def assert_loss_gradients_through_the_trainer(loss, pack=1, n=4):
    """End to end, as the trainer runs ``loss``: G's parameter gradients, backpropagated
    L_G -> D (frozen) -> (unpacked) -> G, and D's, against finite differences of L_G and L_D."""
    gan = small_gan(loss, pack)
    assert_trainer_gradients(gan, B.normal((n, 2)), B.normal((n, 3)))


# -- every trainer -------------------------------------------------------------------------------

def assert_trainer_gradients(trainer, real, z):
    """The parameter gradients of a trainer's losses against central differences (float64):
    G's, from ``generator_gradients(real, z=z)``, and, where it has a discriminator, D's, from
    ``discriminator_gradients(real, z=z)["d_loss"]``, each from one random state."""
    state = B.get_rng_state()

    def g_loss():
        B.set_rng_state(state)
        return trainer.generator_gradients(real, z=z)

    assert_param_grads(g_loss, trainer.generator.named_parameters(), f"{type(trainer).__name__}: G's loss")
    if trainer.uses_discriminator:
        def d_loss():
            B.set_rng_state(state)
            return trainer.discriminator_gradients(real, z=z)["d_loss"]

        assert_param_grads(d_loss, trainer.discriminator.named_parameters(), f"{type(trainer).__name__}: D's loss")


def assert_trainer_trains(trainer, dataset, batch_size=16, steps=3):
    """A short run: each step counted, every figure it returns finite, and G's parameters moved."""
    before = [B.to_numpy(p.data, copy=True) for p in trainer.generator.parameters()]
    for _ in range(steps):
        stats = trainer.train_step(dataset.sample(trainer.rows_per_step(batch_size)))
    assert stats["step"] == trainer.step == steps
    for key, value in stats.items():
        assert math.isfinite(float(value)), (key, value)
    assert any(not np.array_equal(b, B.to_numpy(p.data)) for b, p in zip(before, trainer.generator.parameters()))


def assert_trainer_resumes_exactly(cfg, folder, steps=2):
    """A trainer saved after ``steps`` steps and restored by a fresh one reaches, in ``steps``
    more, bit for bit the state the saved one reaches: networks, optimisers, step, random state."""
    trainer, dataset = build(cfg)
    rows = trainer.rows_per_step(cfg["batch_size"])
    for _ in range(steps):
        trainer.train_step(dataset.sample(rows))
    path = trainer.save(str(Path(folder) / "checkpoint.npz"), cfg)
    for _ in range(steps):
        trainer.train_step(dataset.sample(rows))
    resumed, dataset = build(cfg)
    resumed.load(path)
    for _ in range(steps):
        resumed.train_step(dataset.sample(rows))
    a, b = trainer.state_dict(), resumed.state_dict()
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_array_equal(B.to_numpy(a[key]), B.to_numpy(b[key]), err_msg=key)


@contextmanager
def split_work(threads):
    """Within the block, the kernels (``npgan.kernels``) split even the smallest elementwise
    work between ``threads`` threads (1: everything inline), so a test's tiny shapes take the
    code path that big batches take."""
    previous = (runtime.num_threads(), kernels.elementwise_min_work())
    runtime.set_num_threads(threads)
    kernels.set_elementwise_min_work(0)
    try:
        yield
    finally:
        runtime.set_num_threads(previous[0])
        kernels.set_elementwise_min_work(previous[1])


def synthetic_fashion(folder, n_train=600, n_test=200, seed=0):
    """Write a Fashion-MNIST-shaped IDX folder whose 10 classes a classifier can tell apart:
    class k is a bright 4-pixel band at rows 2k+2..2k+5 (plus noise). Returns the folder."""
    import numpy as np

    from npgan.idx import write_idx
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for k in range(10):
            images[labels == k, 2 * k + 2:2 * k + 6, 4:24] = 220
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte", labels)
    return folder


def assert_same_training_state(folder_a, folder_b):
    """Two runs' checkpoints hold the same training state bit for bit, and the same config and
    data fingerprints (each run keeps its own id)."""
    import json

    import numpy as np
    a, b = np.load(Path(folder_a) / "checkpoint.npz"), np.load(Path(folder_b) / "checkpoint.npz")
    assert sorted(a.files) == sorted(b.files)
    for k in a.files:
        if k == "run":
            ida, idb = json.loads(str(a[k])), json.loads(str(b[k]))
            assert (ida["config"], ida["data"]) == (idb["config"], idb["data"]) and ida["id"] != idb["id"]
        else:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
