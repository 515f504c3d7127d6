"""Process tuning on the CPU: threads, the C allocator and OpenBLAS's environment.

Importing npgan changes nothing in the process. Everything here acts only when called, and
the ``npgan`` command line is what calls it (``python -m npgan`` and the console script run
``npgan.__main__``); a library user opts in the same way:

* ``blas_environment()``: OpenBLAS's idle-thread setting, which OpenBLAS reads once, when
  NumPy loads; so it must run before anything imports NumPy (``npgan.__main__`` does that,
  and ``import npgan`` itself loads no NumPy);
* ``keep_freed_memory()``: glibc keeps the memory a training step frees for the next one;
* ``ThreadGovernor``: one thread while other processes keep the cores busy, every core when
  the machine is quiet again (the training loop ticks it);
* ``limit_threads(n)``, ``set_num_threads(n)``: BLAS (through threadpoolctl) and npgan's own
  loops on ``n`` threads;
* ``parallel_map`` / ``parallel_for``: the thread pool that ``npgan.kernels`` splits its
  batch-sized elementwise passes over, created at the first call that needs it.

This module imports no array library, so that the command line can use it before NumPy loads.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor

THREAD_VARIABLES = ("NPGAN_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3

_threads = {"n": None, "pool": None}  # npgan's own thread count (None: not decided yet), its pool


# -- the BLAS environment -------------------------------------------------------------------
def blas_environment() -> dict:
    """Set OpenBLAS's idle-thread timeout unless the user did: after each matrix product an
    idle OpenBLAS worker otherwise spins for a while on the core that the next elementwise
    pass needs; with ``OPENBLAS_THREAD_TIMEOUT=18`` it sleeps after 2^18 cycles. OpenBLAS
    reads the variable when NumPy loads it, so this only has an effect before NumPy is
    imported. Returns what it set ({} when the user's value stands)."""
    if os.environ.get("OPENBLAS_THREAD_TIMEOUT", "").strip():
        return {}
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = "18"
    return {"OPENBLAS_THREAD_TIMEOUT": "18"}


# -- the C allocator --------------------------------------------------------------------------
def keep_freed_memory() -> bool:
    """Ask the C allocator (glibc) to keep freed memory in the process for the next allocation.

    A training iteration allocates and frees the same large temporaries every step (im2col
    columns, activations and their gradients). By default glibc hands blocks over 32 MB
    straight back to the kernel when they are freed, and trims free memory at the top of its
    heap; the next iteration then takes page faults to get it back, each new page
    zero-filled by the kernel. With the mmap threshold raised to 1 GB and trimming off, the
    freed memory is reused as it is. The cost: the process keeps its peak memory for its
    lifetime instead of shrinking between iterations.

    A process-wide setting: the ``npgan`` command line and the benchmarks call it. With
    ``NPGAN_KEEP_FREED_MEMORY=0`` in the environment it leaves the allocator alone. Returns
    True where it took effect (glibc on Linux); elsewhere, or when opted out, it changes
    nothing and returns False. CuPy keeps its own memory pool and is not affected.
    """
    if os.environ.get("NPGAN_KEEP_FREED_MEMORY", "1").strip() == "0":
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; the trim threshold is an int, so INT_MAX means "never"
    return bool(mallopt(_M_MMAP_THRESHOLD, 1 << 30)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))


# -- thread counts --------------------------------------------------------------------------------
def user_chose_threads() -> bool:
    """Has the user set a thread count in the environment (which then always wins)?"""
    return any(os.environ.get(v, "").strip() for v in THREAD_VARIABLES)


def num_threads() -> int:
    """Threads for ``parallel_for``: ``set_num_threads``, else ``$NPGAN_NUM_THREADS``, else
    ``$OMP_NUM_THREADS`` (the BLAS thread count), else the cores this process may use."""
    if _threads["n"] is None:
        for var in THREAD_VARIABLES[:2]:
            value = os.environ.get(var, "").strip()
            if not value:
                continue
            if not value.isdigit() or int(value) < 1:
                raise ValueError(f"{var} must be a positive integer, got {value!r}")
            _threads["n"] = int(value)
            break
        else:
            try:
                _threads["n"] = len(os.sched_getaffinity(0))
            except AttributeError:  # not Linux
                _threads["n"] = os.cpu_count() or 1
    return _threads["n"]


def set_num_threads(n: int) -> None:
    """Set the thread count of ``parallel_for`` (the benchmarks pin it with the BLAS count)."""
    if int(n) < 1:
        raise ValueError(f"set_num_threads: expected a positive count, got {n}")
    _threads["n"] = int(n)


@contextlib.contextmanager
def _limited(n: int):
    # imported here, not at the top: threadpoolctl sets KMP_DUPLICATE_LIB_OK in os.environ when
    # it is imported, and importing npgan must leave the environment as it was
    from threadpoolctl import threadpool_limits

    before = _threads["n"]
    _threads["n"] = n
    try:
        with threadpool_limits(limits=n, user_api="blas"):
            yield n
    finally:
        _threads["n"] = before


def limit_threads(n: int | None):
    """A context manager: BLAS (threadpoolctl) and ``parallel_for`` use ``n`` threads inside it;
    ``None`` changes nothing."""
    return contextlib.nullcontext() if n is None else _limited(n)


def machine_cpu_seconds():
    """(busy CPU seconds of the whole machine, of this process) so far; None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = [float(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    t = os.times()
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK"), t.user + t.system


class ThreadGovernor:
    """Every ``interval`` seconds of training, how many cores are *other* processes using?
    From ``busy`` cores on (half a core by default), npgan's BLAS and ``parallel_for`` work on
    one thread; when the machine is quiet again, on all of them.

    On a quiet machine a second thread speeds every model up; beside one busy process per
    core it makes them several times slower than one thread, because each matrix product
    waits for a core for its second half (``benchmarks/contention.py`` measures it).
    Inactive when the user chose a thread count in the environment, or where /proc/stat is
    not there. The training loop calls ``tick()`` once per step.
    """

    def __init__(self, interval: float = 2.0, busy: float = 0.5):
        self.interval, self.busy = float(interval), float(busy)
        self.active = not user_chose_threads() and machine_cpu_seconds() is not None
        self.threads = None  # None: all cores; 1: one thread
        self._limit = None

    def __enter__(self):
        self._mark = (time.perf_counter(), machine_cpu_seconds())
        return self

    def tick(self) -> None:
        """Call once per training step: re-decides at most every ``interval`` seconds."""
        if not self.active:
            return
        now = time.perf_counter()
        then, (machine0, own0) = self._mark
        if now - then < self.interval:
            return
        machine, own = machine_cpu_seconds()
        others = max((machine - machine0) - (own - own0), 0.0) / (now - then)  # in cores
        self._mark = (now, (machine, own))
        self._set(1 if others >= self.busy else None)

    def _set(self, n) -> None:
        if n == self.threads:
            return
        if self._limit is not None:
            self._limit.__exit__(None, None, None)
            self._limit = None
        if n is not None:
            self._limit = limit_threads(n)
            self._limit.__enter__()
        self.threads = n

    def __exit__(self, *exc):
        self._set(None)
        return False


# -- npgan's own thread pool ----------------------------------------------------------------------
def parallel_map(fn, n: int, work: int = 0, min_work: int = 1 << 20, threads: int | None = None) -> list:
    """``[fn(start, stop), ...]`` over [0, n) split into one contiguous range per thread.

    ``work`` is the number of elements the whole call touches; below ``min_work`` (by
    default about a million: a few hundred microseconds of work) the threads cost more
    than they save, and the result is ``[fn(0, n)]``, as it is with one thread.
    ``threads`` caps the count (``npgan.kernels`` passes 1 on CuPy, whose device is already
    parallel). The results come in the order of the ranges, so partial sums add up the same
    way on every run with the same thread count.
    """
    t = min(num_threads() if threads is None else threads, n)
    if t <= 1 or work < min_work:
        return [fn(0, n)]
    if _threads["pool"] is None or _threads["pool"]._max_workers < t - 1:
        _threads["pool"] = ThreadPoolExecutor(max_workers=t - 1, thread_name_prefix="npgan")
    bounds = [n * i // t for i in range(t + 1)]
    futures = [_threads["pool"].submit(fn, bounds[i], bounds[i + 1]) for i in range(1, t)]
    first = fn(bounds[0], bounds[1])  # the calling thread takes the first chunk
    return [first] + [f.result() for f in futures]  # re-raises an exception from a worker


def parallel_for(fn, n: int, work: int = 0, min_work: int = 1 << 20, threads: int | None = None) -> None:
    """Call ``fn(start, stop)`` over [0, n) split into one contiguous range per thread
    (``parallel_map`` without the results): for work that writes into preallocated slices."""
    parallel_map(fn, n, work, min_work, threads)
