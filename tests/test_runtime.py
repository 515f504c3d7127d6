"""Process tuning (``npgan.runtime``): threads, the allocator, OpenBLAS's environment; and the
promise that importing npgan changes nothing in the process."""

import os
import pathlib
import platform
import subprocess
import sys

import pytest

import npgan
from npgan import runtime


def test_parallel_for_covers_the_range_once_and_reraises(numpy_backend):
    seen = []
    previous = runtime.num_threads()
    try:
        runtime.set_num_threads(3)
        runtime.parallel_for(lambda lo, hi: seen.append((lo, hi)), 10, work=1 << 21)
        assert sorted(seen) == [(0, 3), (3, 6), (6, 10)]
        seen.clear()
        runtime.parallel_for(lambda lo, hi: seen.append((lo, hi)), 10, work=10)  # too little work: inline
        assert seen == [(0, 10)]
        assert runtime.parallel_map(lambda lo, hi: (lo, hi), 10, work=1 << 21) == [(0, 3), (3, 6), (6, 10)]
        assert runtime.parallel_map(lambda lo, hi: (lo, hi), 2, work=1 << 21) == [(0, 1), (1, 2)]
        assert runtime.parallel_map(lambda lo, hi: hi - lo, 10, work=5, min_work=4) == [3, 3, 4]

        def boom(lo, hi):
            if lo > 0:
                raise RuntimeError("worker failed")
        with pytest.raises(RuntimeError, match="worker failed"):
            runtime.parallel_for(boom, 4, work=1 << 21)
        with pytest.raises(ValueError, match="expected a positive count"):
            runtime.set_num_threads(0)
    finally:
        runtime.set_num_threads(previous)


_FAULTS_SCRIPT = """
import resource, sys
from npgan import backend as B, runtime
kept = runtime.keep_freed_memory() if sys.argv[1] == "keep" else None
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
    monkeypatch.setattr(runtime, "machine_cpu_seconds", lambda: (clock["machine"], clock["own"]))
    monkeypatch.setattr("time.perf_counter", lambda: clock["t"])
    before, ours = _blas_threads(), runtime.num_threads()
    with runtime.ThreadGovernor(interval=2.0) as governor:
        assert governor.active and governor.threads is None
        clock.update(t=1.0, machine=2.0, own=1.0)
        governor.tick()  # within the interval: no decision yet
        assert governor.threads is None
        clock.update(t=2.0, machine=5.0, own=2.0)  # others: 3 cores-seconds in 2 s = 1.5 cores
        governor.tick()
        assert governor.threads == 1 and set(_blas_threads()) <= {1} and runtime.num_threads() == 1
        clock.update(t=4.0, machine=9.0, own=6.0)  # others: (4 - 4) / 2 = 0: quiet again
        governor.tick()
        assert governor.threads is None and _blas_threads() == before and runtime.num_threads() == ours
        clock.update(t=6.0, machine=13.0, own=7.0)
        governor.tick()
        assert governor.threads == 1
    assert _blas_threads() == before and runtime.num_threads() == ours  # restored on exit


def test_the_users_thread_count_wins_over_the_governor(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert not runtime.ThreadGovernor().active


def test_limit_threads_sets_blas_and_npgan_threads_and_restores_them(numpy_backend):
    from threadpoolctl import threadpool_info

    def blas():
        return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]

    before, ours = blas(), runtime.num_threads()
    with runtime.limit_threads(1):
        assert set(blas()) <= {1} and runtime.num_threads() == 1
    assert blas() == before and runtime.num_threads() == ours
    with runtime.limit_threads(None):
        assert blas() == before


SPY_ON_NUMPY_IMPORT = """
import os, sys
class Spy:  # records the environment at the moment NumPy is first imported
    def find_spec(self, name, path=None, target=None):
        if name == "numpy":
            print("timeout at numpy import:", os.environ.get("OPENBLAS_THREAD_TIMEOUT"))
            sys.meta_path.remove(self)
sys.meta_path.insert(0, Spy())
import npgan.__main__  # the command line's entry point (npgan, python -m npgan)
"""

SPY_ON_LIBRARY_IMPORT = SPY_ON_NUMPY_IMPORT.replace("import npgan.__main__", "import npgan.nn, npgan.gan")


def test_the_command_line_sets_openblas_idle_threads_before_numpy_loads_and_the_library_does_not():
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
    # importing the library leaves the environment alone
    out = subprocess.run([sys.executable, "-c", SPY_ON_LIBRARY_IMPORT], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "timeout at numpy import: None"


IMPORT_CHANGES_NOTHING = """
import os, sys, threading
environ, threads = dict(os.environ), threading.active_count()
import npgan
assert "numpy" not in sys.modules, "import npgan loaded NumPy"
import numpy
if sys.argv[1] == "npgan":
    import npgan.nn, npgan.gan, npgan.cli, npgan.kernels, npgan.runtime, npgan.evaluation, npgan.exercises
changed = sorted(k for k in set(os.environ) | set(environ) if os.environ.get(k) != environ.get(k))
from threadpoolctl import threadpool_info
blas = sorted(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")
print(changed, threading.active_count() - threads, blas)
"""


def test_importing_npgan_changes_nothing_in_the_process():
    """No environment variable set, no thread started, the BLAS thread pools as NumPy alone
    leaves them."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_THREAD_TIMEOUT", "KMP_DUPLICATE_LIB_OK")
           and not k.endswith("NUM_THREADS")}

    def run(what):
        out = subprocess.run([sys.executable, "-c", IMPORT_CHANGES_NOTHING, what], capture_output=True, text=True,
                             env=env, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    with_npgan, numpy_alone = run("npgan"), run("numpy")
    assert with_npgan.startswith("[] 0 ["), with_npgan
    assert with_npgan == numpy_alone
