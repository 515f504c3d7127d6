"""Helpers shared by the tests."""

from contextlib import contextmanager
from pathlib import Path

from npgan import kernels, runtime
from npgan.gradcheck import double_gradcheck, gradcheck

TOL = 1e-6  # relative error bound in float64 (a correct pass gives ~1e-9, a wrong one O(1))


def assert_grads_ok(layer, x, training=True, max_checks=150):
    report = gradcheck(layer, x, training=training, max_checks=max_checks)
    assert report.ok(TOL), f"\n{report}"
    return report


def assert_double_grads_ok(layer, x, training=True, max_checks=100):
    report = double_gradcheck(layer, x, training=training, max_checks=max_checks)
    assert report.ok(TOL), f"\n{report}"
    return report


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
