"""state_dict / load_state_dict / save / load, including BatchNorm running statistics."""

import os

import numpy as np
import pytest
from test_contract import layer_classes

from npgan import backend as B
from npgan import io as npio
from npgan import nn


def model():
    return nn.Sequential(nn.Conv2D(1, 2, 3, padding=1), nn.BatchNorm(2), nn.ReLU(),
                         nn.Flatten(), nn.Dense(2 * 4 * 4, 1))


def test_save_load_round_trip(backend_name, tmp_path):
    B.seed(0)
    a = model()
    x = B.normal((4, 1, 4, 4))
    a.forward(x, training=True)  # moves the running statistics away from their init
    path = a.save(tmp_path / "m.npz")
    B.seed(99)
    b = model()
    assert not np.allclose(B.to_numpy(a(x, training=False)), B.to_numpy(b(x, training=False)))
    b.load(path)
    np.testing.assert_array_equal(B.to_numpy(a(x, training=False)), B.to_numpy(b(x, training=False)))
    state = a.state_dict()
    assert {"1.running_mean", "1.running_var", "0.weight", "4.bias"} <= set(state)
    assert all(isinstance(v, np.ndarray) for v in state.values())
    np.testing.assert_array_equal(B.to_numpy(b[1].running_var), state["1.running_var"])


def test_state_dict_is_a_snapshot(backend_name):
    m = model()
    state = m.state_dict()
    before = state["0.weight"].copy()
    m[0].weight.data += 1
    np.testing.assert_array_equal(state["0.weight"], before)
    m.load_state_dict(state)
    state["0.weight"] += 5  # the loaded model does not share memory with the dict
    np.testing.assert_array_equal(B.to_numpy(m[0].weight.data), before)


def test_load_errors_name_the_key(backend_name, tmp_path):
    m = model()
    state = m.state_dict()
    bad = dict(state)
    bad["4.weight"] = np.zeros((3, 1), dtype=np.float32)
    with pytest.raises(ValueError, match=r"key '4.weight' expects shape \(32, 1\), received \(3, 1\)"):
        m.load_state_dict(bad)
    missing = dict(state)
    del missing["1.running_mean"]
    with pytest.raises(KeyError, match="missing key '1.running_mean'"):
        m.load_state_dict(missing)
    with pytest.raises(KeyError, match="unexpected key 'extra'"):
        m.load_state_dict({**state, "extra": np.zeros(1)})
    with pytest.raises(FileNotFoundError, match="no such checkpoint file"):
        m.load(tmp_path / "nope.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip archive")
    with pytest.raises(ValueError, match="junk.npz is not an npgan checkpoint"):
        m.load(junk)


def test_failed_save_keeps_the_old_file(backend_name, tmp_path, monkeypatch):
    m = model()
    path = tmp_path / "m.npz"
    m.save(path)
    original = path.read_bytes()

    def broken_savez(f, **arrays):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(npio.host, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        m.save(path)
    assert path.read_bytes() == original
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]  # no temporary file left behind


@pytest.mark.skipif(not B.cupy_available(), reason="needs CuPy and a CUDA device")
def test_gpu_checkpoint_loads_on_cpu_and_back(tmp_path):
    B.set_backend("cupy")
    try:
        gpu = model()
        gpu.save(tmp_path / "g.npz")
        expected = gpu.state_dict()
    finally:
        B.set_backend("numpy")
    cpu = model()
    cpu.load(tmp_path / "g.npz")
    for k, v in cpu.state_dict().items():
        np.testing.assert_array_equal(v, expected[k])
    cpu.save(tmp_path / "c.npz")
    B.set_backend("cupy")
    try:
        again = model()
        again.load(tmp_path / "c.npz")
        assert B.array_backend(again[0].weight.data) == "cupy"
    finally:
        B.set_backend("numpy")


def all_layers():
    """One instance of every layer class npgan.nn defines (found by the class walk), a
    convolution without bias, and a stack holding others."""
    return [cls.example()[0] for cls in layer_classes()] + [nn.Conv2D(1, 2, 3, bias=False), model()]


@pytest.mark.parametrize("layer", all_layers(), ids=lambda layer: type(layer).__name__)
def test_every_parameter_attribute_is_registered(layer):
    """No Parameter can hide from parameters(), state_dict(), the optimisers or gradcheck."""
    def attribute_params(obj):
        found = [v for v in vars(obj).values() if isinstance(v, nn.Parameter)]
        for child in obj.children():
            found += attribute_params(child)
        return found

    listed = layer.parameters()
    assert {id(p) for p in attribute_params(layer)} == {id(p) for p in listed}
    assert len(listed) == len({id(p) for p in listed})  # none twice
    assert set(layer.state_dict()) == {n for n, _ in layer.named_parameters()} | \
        {n for n, _ in layer.named_buffers()}


def test_assignment_registers_parameters_and_sublayers():
    class Affine(nn.Layer):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(B.get_backend().ones(3, dtype=B.get_dtype()), "scale")
            self.inner = nn.Dense(3, 3)
            self.note = "not a parameter"

    a = Affine()
    assert [n for n, _ in a.named_parameters()] == ["scale", "inner.weight", "inner.bias"]
    a.scale = None  # unassigning unregisters
    assert [n for n, _ in a.named_parameters()] == ["inner.weight", "inner.bias"]


def test_named_buffers_returns_name_array_pairs_like_named_parameters(backend_name):
    m = model()
    buffers = m.named_buffers()
    assert [n for n, _ in buffers] == ["1.running_mean", "1.running_var"]
    assert all(B.array_backend(a) == backend_name for _, a in buffers)
    assert buffers[0][1] is m[1].running_mean
    m.set_buffer("1.running_mean", B.get_backend().full(2, 3.0, dtype=B.get_dtype()))
    np.testing.assert_array_equal(B.to_numpy(m[1].running_mean), [3.0, 3.0])
    with pytest.raises(KeyError, match="no buffer '1.weight'"):
        m.set_buffer("1.weight", m[1].running_mean)


def test_eval_mode_uses_running_statistics_and_leaves_them_alone(backend_name):
    """A layer is in training mode once built; eval() switches the whole network, so a
    plain forward(x) neither uses nor updates the batch statistics; training= overrides."""
    m = model()
    x = B.normal((4, 1, 4, 4))
    assert m.training and m[1].training
    before = B.to_numpy(m[1].running_mean, copy=True)
    m.forward(x)  # training mode: the running mean moves
    moved = B.to_numpy(m[1].running_mean, copy=True)
    assert not np.array_equal(moved, before)
    m.eval()
    assert not m[1].training
    y1 = B.to_numpy(m.forward(x))
    np.testing.assert_array_equal(B.to_numpy(m[1].running_mean), moved)
    y2 = B.to_numpy(m.forward(x, training=False))
    np.testing.assert_array_equal(y1, y2)
    m.forward(x, training=True)  # an explicit override for one call
    assert not np.array_equal(B.to_numpy(m[1].running_mean), moved)
    assert m.train() is m and m[1].training
