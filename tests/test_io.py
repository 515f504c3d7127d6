import os
import stat

import numpy as np
import pytest

from npgan.io import atomic_write, load_npz, save_npy, save_npz


def test_atomic_files_get_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        save_npz(tmp_path / "a.npz", {"x": np.zeros(2)})
        save_npy(tmp_path / "b.npy", np.ones(3))
    finally:
        os.umask(old)
    for name in ("a.npz", "b.npy"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o644
    assert load_npz(tmp_path / "a.npz")["x"].shape == (2,)
    assert np.load(tmp_path / "b.npy").sum() == 3


def test_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "t.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target, "w") as f:
            f.write("new, half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["t.txt"]
