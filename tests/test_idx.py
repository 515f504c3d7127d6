import os

import numpy as np
import pytest

from npgan import backend as B
from npgan import data
from npgan.idx import read_idx, write_idx


@pytest.mark.parametrize("suffix", [".gz", ""])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.float32, np.float64])
def test_round_trip(tmp_path, suffix, dtype):
    x = (np.arange(2 * 3 * 4) - 5).reshape(2, 3, 4)
    x = x.astype(dtype) if np.dtype(dtype).kind != "u" else np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / f"a.idx{suffix}"
    write_idx(path, x)
    y = read_idx(path)
    assert y.dtype == x.dtype and y.shape == x.shape
    np.testing.assert_array_equal(y, x)


def test_malformed_files(tmp_path):
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(bad)
    short = tmp_path / "short.idx"
    short.write_bytes(bytes([0, 0, 8, 1]) + np.array([10], ">i4").tobytes() + b"\x00" * 3)
    with pytest.raises(ValueError, match="header says shape"):
        read_idx(short)
    gz = tmp_path / "broken.idx.gz"
    gz.write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="cannot read IDX file"):
        read_idx(gz)


def fake_fashion(folder, n=6):
    rng = np.random.default_rng(0)
    write_idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))


def test_fashion_mnist_from_a_folder_and_env(tmp_path, monkeypatch, backend_name):
    fake_fashion(tmp_path)
    d = data.fashion_mnist("train", directory=str(tmp_path))
    assert len(d) == 6 and d.shape == (1, 28, 28)
    x = d.sample(4)
    assert x.shape == (4, 1, 28, 28) and x.dtype == np.float32
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0
    np.testing.assert_allclose(B.to_numpy(d.batch(np.array([0]))), d.images[:1] / 127.5 - 1, atol=1e-6)
    monkeypatch.setenv(data.FASHION_MNIST_ENV, str(tmp_path))
    assert len(data.fashion_mnist("train")) == 6


def test_missing_files_name_the_package(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        data.fashion_mnist("test", directory=str(tmp_path))
    with pytest.raises(ValueError, match="split must be"):
        data.fashion_mnist("valid", directory=str(tmp_path))


@pytest.mark.skipif(not os.path.isdir(data.FASHION_MNIST_DIR),
                    reason="Debian package dataset-fashion-mnist is not installed")
def test_real_fashion_mnist():
    test = data.fashion_mnist("test")
    assert len(test) == 10000 and test.images.dtype == np.uint8
    assert sorted(set(test.labels.tolist())) == list(range(10))
    assert np.bincount(test.labels).tolist() == [1000] * 10
