"""The shared training loop: its schedule, its averaging, and no waiting on the device.

On a GPU, every conversion of a device array to a Python number (``float(x)``,
``x.item()``, ``bool(x)``, ``to_numpy``) makes the host wait for the device. A CPU cannot
time that, but it can count it: ``counting_backend`` swaps the array module for NumPy
wrapped so that every array it makes is a ``Counting`` array, which counts each such
conversion. A training step must make none; a logging step converts each figure once.
"""

import types

import numpy as np
import pytest

from npgan import backend as B
from npgan.gan.config import make_config
from npgan.gan.runner import build
from npgan.training import fit, learning_rate


class Counting(np.ndarray):
    """A NumPy array that counts its conversions to host numbers."""

    conversions = []

    def __array_wrap__(self, arr, context=None, return_scalar=False):
        return np.asarray(arr).view(Counting)  # reductions stay 0-d arrays, as on a GPU

    def _host(self, what):
        Counting.conversions.append(what)
        return self.view(np.ndarray)

    def __float__(self):
        return float(self._host("float"))

    def __int__(self):
        return int(self._host("int"))

    def __bool__(self):
        return bool(self._host("bool"))

    def __index__(self):
        return self._host("index").__index__()

    def item(self, *args):
        return self._host("item").item(*args)

    def tolist(self):
        return self._host("tolist").tolist()


def _wrap(value):
    if isinstance(value, np.ndarray) and not isinstance(value, Counting):
        return value.view(Counting)
    if isinstance(value, np.generic):
        return np.asarray(value).view(Counting)
    return value


class CountingModule(types.ModuleType):
    """NumPy, with every function's array results made ``Counting`` arrays."""

    def __init__(self, module):
        super().__init__(module.__name__)
        self._module = module

    def __getattr__(self, name):
        attr = getattr(self._module, name)
        if isinstance(attr, types.ModuleType):
            return CountingModule(attr)
        if callable(attr) and not isinstance(attr, type):
            return lambda *a, **k: _wrap(attr(*a, **k))
        return attr


@pytest.fixture
def counting_backend(monkeypatch):
    monkeypatch.setitem(B.arrays._state, "xp", CountingModule(np))
    monkeypatch.setattr(Counting, "conversions", [])
    original = B.to_numpy

    def to_numpy(x, copy=False):
        if isinstance(x, Counting):
            Counting.conversions.append("to_numpy")
        return original(x, copy)

    monkeypatch.setattr(B, "to_numpy", to_numpy)
    yield Counting.conversions


def test_the_counting_backend_sees_conversions(counting_backend):
    x = B.normal((3, 4))
    assert isinstance(x, Counting) and isinstance(x.sum(), Counting)
    assert counting_backend == []
    float(x.sum()), x.max().item(), bool((x > 0).any()), B.to_numpy(x)
    assert counting_backend == ["float", "item", "bool", "to_numpy"]


RUNS = {
    "gan-ring8": dict(data="ring8", hidden=8, depth=1, batch_size=16),
    "pacgan-ring8": dict(data="ring8", hidden=8, depth=1, batch_size=16, pack=2, d_steps=1),
    "gan-grid25-batchnorm": dict(data="grid25", hidden=8, depth=1, batch_size=16, g_batchnorm=True),
    "mmd-ring8": dict(data="ring8", trainer="mmd", hidden=8, depth=1, batch_size=16),
}


@pytest.mark.parametrize("run", RUNS, ids=list(RUNS))
def test_a_training_step_never_waits_for_the_device(counting_backend, run):
    cfg = make_config(**RUNS[run])
    trainer, ds = build(cfg)
    assert isinstance(trainer.generator.parameters()[0].data, Counting)  # built on the counting module
    for _ in range(2):
        stats = trainer.train_step(ds.sample(trainer.rows_per_step(cfg["batch_size"])))
    assert counting_backend == []
    assert all(isinstance(v, Counting) for k, v in stats.items() if k != "step")


def test_the_dcgan_step_never_waits_for_the_device(counting_backend):
    from npgan.gan import GANTrainer, dcgan28_discriminator, dcgan28_generator
    gan = GANTrainer(dcgan28_generator(4, width=2), dcgan28_discriminator(width=2), 4)
    gan.train_step(B.uniform((4, 1, 28, 28), -1, 1))
    assert counting_backend == []


def test_the_loop_reads_each_figure_once_per_logging_step(counting_backend):
    cfg = make_config(data="ring8", hidden=8, depth=1, batch_size=16)
    trainer, ds = build(cfg)
    logged = []

    def on_log(step, record):
        logged.append((step, len(counting_backend)))

    fit(lambda step: trainer.train_step(ds.sample(32)), trainer.optimizers(), lr=1e-3, total=9,
        log_every=4, on_log=on_log)
    figures = 6  # d_loss, d_real, d_fake, d_grad_norm, g_loss, g_grad_norm
    assert [s for s, _ in logged] == [4, 8, 9]
    assert [n for _, n in logged] == [figures, 2 * figures, 3 * figures]


def test_learning_rate_schedules():
    assert learning_rate(0.1, 0, 10) == 0.1
    assert learning_rate(0.1, 5, 10) == pytest.approx(0.05)
    assert learning_rate(0.1, 5, 10, "none") == 0.1
    with pytest.raises(ValueError, match="unknown learning-rate decay 'cosine'"):
        learning_rate(0.1, 0, 10, "cosine")


def test_fit_sets_the_rate_before_each_step_and_averages_each_interval():
    class Opt:
        lr = None

    opt, seen, logs = Opt(), [], []

    def step_fn(step):
        seen.append(opt.lr)
        return {"x": float(step), "step": step}

    fit(step_fn, [opt], lr=1.0, total=4, log_every=2, on_log=lambda s, r: logs.append((s, r)))
    assert seen == [1.0, 0.75, 0.5, 0.25]
    assert logs == [(2, {"lr": 0.75, "x": 0.5}), (4, {"lr": 0.25, "x": 2.5})]
    seen.clear()
    fit(step_fn, [opt], lr=1.0, total=4, start=1, stop=3)  # a resumed, interrupted run
    assert seen == [0.75, 0.5]
