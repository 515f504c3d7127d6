"""CPU threads: the thread count of npgan's own parallel loops, and OpenBLAS's idle threads.

NumPy runs its matrix products on all the cores BLAS is given, but every elementwise
operation on one core. ``parallel_for`` splits a batch-sized piece of such work (the
im2col gather, the col2im scatter-add) into one contiguous chunk per thread, each handled
by the same vectorised code; nothing loops over samples. On CuPy the GPU is already
parallel and the work runs as one call.
"""

from __future__ import annotations

import os

# OpenBLAS keeps idle worker threads spinning ~0.1 s after each product, taking the cores the
# next elementwise pass needs; sleeping after 2^18 cycles instead made a dcgan28 iteration at
# batch 256 530 -> 434 ms on 2 cores (benchmarks/RESULTS.md). OpenBLAS reads it once, when NumPy
# loads it: npgan.backend imports this module before any other.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "18")

from .arrays import backend_name  # noqa: E402  (after the environment is set)

# "elementwise": elementwise passes (BatchNorm, activations) are split between threads from
# this many elements (2 MB of float32); below it a thread hand-off costs more than it saves
_threads = {"n": None, "pool": None, "elementwise": 1 << 19}


def elementwise_min_work() -> int:
    """Elements from which an elementwise pass is split between threads (``parallel_for``'s
    ``min_work`` for BatchNorm and the activations)."""
    return _threads["elementwise"]


def set_elementwise_min_work(n: int) -> None:
    """Set ``elementwise_min_work`` (tests set 0 so tiny shapes take the threaded path)."""
    _threads["elementwise"] = int(n)


def user_chose_threads() -> bool:
    """Has the user set a thread count in the environment (which then always wins)?"""
    return any(os.environ.get(v, "").strip() for v in
               ("NPGAN_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"))


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

    On a quiet 2-core machine a second thread speeds every model up (ring8 7.5 -> 6.0 ms an
    iteration, dcgan28 182 -> 119 ms); beside one busy process per core it makes them 2-7x
    slower than one thread, because each product waits for a core for its second half
    (grid25: 576 ms against 77; benchmarks/contention.py). Inactive when the user chose a
    thread count in the environment, or where /proc/stat is not there.
    """

    def __init__(self, interval: float = 2.0, busy: float = 0.5):
        self.interval, self.busy = float(interval), float(busy)
        self.active = not user_chose_threads() and machine_cpu_seconds() is not None
        self.threads = None  # None: all cores; 1: one thread
        self._limit = None

    def __enter__(self):
        import time
        self._mark = (time.perf_counter(), machine_cpu_seconds())
        return self

    def tick(self) -> None:
        """Call once per training step: re-decides at most every ``interval`` seconds."""
        import time
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


def limit_threads(n: int | None):
    """A context manager: BLAS (threadpoolctl) and ``parallel_for`` use ``n`` threads inside it;
    ``None`` changes nothing."""
    import contextlib
    if n is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    @contextlib.contextmanager
    def limited():
        before = _threads["n"]
        _threads["n"] = n
        try:
            with threadpool_limits(limits=n, user_api="blas"):
                yield n
        finally:
            _threads["n"] = before

    return limited()


def num_threads() -> int:
    """Threads for ``parallel_for`` on NumPy: ``set_num_threads``, else ``$NPGAN_NUM_THREADS``,
    else ``$OMP_NUM_THREADS`` (the BLAS thread count), else the cores this process may use."""
    if _threads["n"] is None:
        for var in ("NPGAN_NUM_THREADS", "OMP_NUM_THREADS"):
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


def parallel_map(fn, n: int, work: int = 0, min_work: int = 1 << 20) -> list:
    """``[fn(start, stop), ...]`` over [0, n) split into one contiguous range per thread.

    ``work`` is the number of elements the whole call touches; below ``min_work`` (by
    default about a million: a few hundred microseconds of work) the threads cost more
    than they save, and the result is ``[fn(0, n)]``, as it is on CuPy or with one thread.
    The results come in the order of the ranges, so partial sums add up the same way on
    every run with the same thread count.
    """
    t = min(num_threads(), n) if backend_name() == "numpy" else 1
    if t <= 1 or work < min_work:
        return [fn(0, n)]
    if _threads["pool"] is None or _threads["pool"]._max_workers < t - 1:
        from concurrent.futures import ThreadPoolExecutor
        _threads["pool"] = ThreadPoolExecutor(max_workers=t - 1, thread_name_prefix="npgan")
    bounds = [n * i // t for i in range(t + 1)]
    futures = [_threads["pool"].submit(fn, bounds[i], bounds[i + 1]) for i in range(1, t)]
    first = fn(bounds[0], bounds[1])  # the calling thread takes the first chunk
    return [first] + [f.result() for f in futures]  # re-raises an exception from a worker


def parallel_for(fn, n: int, work: int = 0, min_work: int = 1 << 20) -> None:
    """Call ``fn(start, stop)`` over [0, n) split into one contiguous range per thread
    (``parallel_map`` without the results): for work that writes into preallocated slices."""
    parallel_map(fn, n, work, min_work)


