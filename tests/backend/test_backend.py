import ast
import os
import pathlib
import platform
import subprocess
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


def test_parallel_for_covers_the_range_once_and_reraises(numpy_backend):
    seen = []
    previous = B.num_threads()
    try:
        B.set_num_threads(3)
        B.parallel_for(lambda lo, hi: seen.append((lo, hi)), 10, work=1 << 21)
        assert sorted(seen) == [(0, 3), (3, 6), (6, 10)]
        seen.clear()
        B.parallel_for(lambda lo, hi: seen.append((lo, hi)), 10, work=10)  # too little work: inline
        assert seen == [(0, 10)]
        assert B.parallel_map(lambda lo, hi: (lo, hi), 10, work=1 << 21) == [(0, 3), (3, 6), (6, 10)]
        assert B.parallel_map(lambda lo, hi: (lo, hi), 2, work=1 << 21) == [(0, 1), (1, 2)]
        assert B.parallel_map(lambda lo, hi: hi - lo, 10, work=5, min_work=4) == [3, 3, 4]

        def boom(lo, hi):
            if lo > 0:
                raise RuntimeError("worker failed")
        with pytest.raises(RuntimeError, match="worker failed"):
            B.parallel_for(boom, 4, work=1 << 21)
        with pytest.raises(ValueError, match="expected a positive count"):
            B.set_num_threads(0)
    finally:
        B.set_num_threads(previous)


def test_threaded_im2col_col2im_equal_the_single_threaded_ones(backend_name):
    from npgan.nn.im2col import col2im, im2col
    x = B.normal((16, 18, 18, 64))
    cols = B.normal((16 * 8 * 8, 4 * 4 * 64))
    previous = B.num_threads()
    try:
        out = {}
        for t in (1, 2):
            B.set_num_threads(t)
            out[t] = (B.to_numpy(im2col(x, 4, 4, 2, 2, 8, 8)),
                      B.to_numpy(col2im(cols, 16, 18, 18, 64, 4, 4, 2, 2, 8, 8, crop=(1, 1, 16, 16))))
    finally:
        B.set_num_threads(previous)
    np.testing.assert_array_equal(out[1][0], out[2][0])
    np.testing.assert_array_equal(out[1][1], out[2][1])


_FAULTS_SCRIPT = """
import resource, sys
from npgan import backend as B
kept = B.keep_freed_memory() if sys.argv[1] == "keep" else None
xp = B.host
for i in range(6):
    if i == 1:  # after the first allocation: every later one could reuse its memory
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a = xp.ones(16 << 20, dtype=xp.float32)  # 64 MB, over glibc's largest mmap threshold
    del a
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="keep_freed_memory acts on glibc's allocator only")
def test_keep_freed_memory_lets_a_freed_block_be_reused_without_page_faults():
    def faults(mode, opt_out=False):
        env = dict(os.environ, NPGAN_KEEP_FREED_MEMORY="0" if opt_out else "1")
        out = subprocess.run([sys.executable, "-c", _FAULTS_SCRIPT, mode], capture_output=True, text=True,
                             check=True, cwd=pathlib.Path(npgan.__file__).parent.parent, env=env).stdout.split()
        return out[0], int(out[1])

    kept, with_setting = faults("keep")
    _, without = faults("default")
    opted_out, with_opt_out = faults("keep", opt_out=True)
    assert kept == "True" and opted_out == "False"
    assert with_opt_out >= 5 * 32  # the environment variable leaves the allocator as it was
    # 5 x 64 MB filled anew: 16,384 faults each with 4 kB pages (fewer with huge pages, but
    # at least one per 2 MB); reused memory takes (almost) none
    assert without >= 5 * 32
    assert with_setting < without / 10, (with_setting, without)


def _blas_threads():
    from threadpoolctl import threadpool_info
    return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]


def test_the_governor_drops_to_one_thread_while_others_use_the_cores(monkeypatch, numpy_backend):
    for var in ("NPGAN_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    clock = {"t": 0.0, "machine": 0.0, "own": 0.0}
    monkeypatch.setattr(B.threads, "machine_cpu_seconds", lambda: (clock["machine"], clock["own"]))
    monkeypatch.setattr("time.perf_counter", lambda: clock["t"])
    before, ours = _blas_threads(), B.num_threads()
    with B.ThreadGovernor(interval=2.0) as governor:
        assert governor.active and governor.threads is None
        clock.update(t=1.0, machine=2.0, own=1.0)
        governor.tick()  # within the interval: no decision yet
        assert governor.threads is None
        clock.update(t=2.0, machine=5.0, own=2.0)  # others: 3 cores-seconds in 2 s = 1.5 cores
        governor.tick()
        assert governor.threads == 1 and set(_blas_threads()) <= {1} and B.num_threads() == 1
        clock.update(t=4.0, machine=9.0, own=6.0)  # others: (4 - 4) / 2 = 0: quiet again
        governor.tick()
        assert governor.threads is None and _blas_threads() == before and B.num_threads() == ours
        clock.update(t=6.0, machine=13.0, own=7.0)
        governor.tick()
        assert governor.threads == 1
    assert _blas_threads() == before and B.num_threads() == ours  # restored on exit


def test_the_users_thread_count_wins_over_the_governor(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert not B.ThreadGovernor().active


def test_limit_threads_sets_blas_and_npgan_threads_and_restores_them(numpy_backend):
    from threadpoolctl import threadpool_info

    def blas():
        return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]

    before, ours = blas(), B.num_threads()
    with B.limit_threads(1):
        assert set(blas()) <= {1} and B.num_threads() == 1
    assert blas() == before and B.num_threads() == ours
    with B.limit_threads(None):
        assert blas() == before


SPY_ON_NUMPY_IMPORT = """
import os, sys
class Spy:  # records the environment at the moment NumPy is first imported
    def find_spec(self, name, path=None, target=None):
        if name == "numpy":
            print("timeout at numpy import:", os.environ.get("OPENBLAS_THREAD_TIMEOUT"))
            sys.meta_path.remove(self)
sys.meta_path.insert(0, Spy())
import npgan
"""


def test_openblas_idle_threads_setting_is_in_place_before_numpy_loads():
    # OpenBLAS reads OPENBLAS_THREAD_TIMEOUT once, when NumPy loads it: set later, it does nothing
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    out = subprocess.run([sys.executable, "-c", SPY_ON_NUMPY_IMPORT], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "timeout at numpy import: 18"
    # the user's own value wins
    out = subprocess.run([sys.executable, "-c", SPY_ON_NUMPY_IMPORT], capture_output=True, text=True,
                         env={**env, "OPENBLAS_THREAD_TIMEOUT": "28"}, timeout=120)
    assert out.stdout.strip() == "timeout at numpy import: 28"
