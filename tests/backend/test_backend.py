import ast
import pathlib
import sys
import types

import numpy as np
import pytest

import npgan
from npgan import backend as B
from npgan import nn

PKG = pathlib.Path(npgan.__file__).parent


def _imported_modules(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


def test_only_the_backend_imports_numpy_or_cupy():
    offenders = []
    for path in sorted(PKG.rglob("*.py")):
        if path.parent == PKG / "backend":
            continue
        bad = {"numpy", "cupy"} & set(_imported_modules(path))
        if bad:
            offenders.append(f"{path.relative_to(PKG.parent)} imports {sorted(bad)}")
    assert offenders == []


def test_no_autodiff_framework_is_imported():
    banned = {"torch", "jax", "autograd", "tensorflow"}
    found = [str(p) for p in PKG.rglob("*.py") if banned & set(_imported_modules(p))]
    assert found == []


def test_the_import_guard_catches_a_violation(tmp_path):
    bad = tmp_path / "layer.py"
    bad.write_text("import numpy as np\nfrom cupy import ndarray\n")
    assert {"numpy", "cupy"} <= set(_imported_modules(bad))


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="unknown backend"):
        B.set_backend("jax")


@pytest.fixture
def fresh_cupy_cache(monkeypatch):
    saved = dict(B.arrays._state)
    monkeypatch.setattr(B.arrays, "_cupy_cache", {})
    yield saved["name"]
    B.arrays._state.update(saved)  # the backend current before the test, whichever it was


def test_cupy_not_installed_gives_clear_error(monkeypatch, fresh_cupy_cache):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ImportError
    with pytest.raises(B.BackendUnavailableError, match="not installed"):
        B.set_backend("cupy")
    assert B.backend_name() == fresh_cupy_cache


def test_cupy_without_device_gives_clear_error(monkeypatch, fresh_cupy_cache):
    def no_device():
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=no_device))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(B.BackendUnavailableError, match="no CUDA device"):
        B.set_backend("cupy")
    assert B.backend_name() == fresh_cupy_cache
    assert not B.cupy_available()


def _fake_cupy(round_trip_error):
    """A CuPy that finds one device but fails its first kernel with ``round_trip_error``."""
    def zeros(n):
        raise round_trip_error

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
    fake.zeros = zeros
    return fake


@pytest.mark.parametrize("error,message", [
    (RuntimeError("CuPy failed to load libnvrtc.so.12: OSError: libnvrtc.so.12: cannot open shared "
                  "object file"), "a CUDA library is missing"),
    (RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient"),
     "the NVIDIA driver is missing or older than this CuPy build needs"),
])
def test_cupy_errors_name_the_missing_part(monkeypatch, fresh_cupy_cache, error, message):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(error))
    with pytest.raises(B.BackendUnavailableError, match=message) as info:
        B.set_backend("cupy")
    assert str(error).split(":")[0] in str(info.value)  # CuPy's own words follow, for a bug report
    assert B.backend_name() == fresh_cupy_cache


def test_dtype_switch(backend_name):
    assert B.get_dtype() == np.float32
    assert B.normal((3,)).dtype == np.float32
    B.set_dtype("float64")
    assert B.normal((3,)).dtype == np.float64
    assert nn.Dense(2, 2).weight.data.dtype == np.float64
    with pytest.raises(ValueError, match="unsupported dtype"):
        B.set_dtype("int32")


def test_asarray_and_to_numpy_round_trip(backend_name):
    host = np.arange(6, dtype=np.float64).reshape(2, 3)
    dev = B.asarray(host)
    assert B.array_backend(dev) == backend_name
    assert dev.dtype == np.float32
    back = B.to_numpy(dev)
    assert isinstance(back, np.ndarray)
    np.testing.assert_array_equal(back, host)
    assert B.asarray(np.arange(3)).dtype.kind == "i"  # labels stay integers


def test_seed_reproduces_draws_and_state_restores(backend_name):
    B.seed(7)
    a = B.to_numpy(B.normal((4, 5)))
    B.seed(7)
    b = B.to_numpy(B.normal((4, 5)))
    np.testing.assert_array_equal(a, b)
    state = B.get_rng_state()
    c = B.to_numpy(B.uniform((10,), -1, 1))
    B.set_rng_state(state)
    d = B.to_numpy(B.uniform((10,), -1, 1))
    np.testing.assert_array_equal(c, d)
    assert (c >= -1).all() and (c < 1).all()
    B.seed(8)
    assert not np.array_equal(B.to_numpy(B.normal((4, 5))), a)


def test_layer_refuses_array_of_other_backend(monkeypatch, numpy_backend):
    layer = nn.Dense(3, 2)
    x = np.zeros((4, 3), dtype=np.float32)
    monkeypatch.setitem(B.arrays._state, "name", "cupy")  # pretend the current backend is cupy
    with pytest.raises(B.BackendMismatchError) as err:
        layer.forward(x)
    msg = str(err.value)
    assert "Dense(3->2)" in msg and "expected a cupy array" in msg and "numpy array" in msg


def test_layer_refuses_non_array_and_wrong_dtype(backend_name):
    layer = nn.Dense(3, 2)
    with pytest.raises(B.BackendMismatchError, match="received list"):
        layer.forward([[0.0, 1.0, 2.0]])
    x64 = B.asarray(np.zeros((4, 3)), dtype=np.float64)
    with pytest.raises(B.BackendMismatchError, match="expected dtype float32, received float64"):
        layer.forward(x64)
