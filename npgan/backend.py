"""The array-module switch: the one place in npgan that knows NumPy from CuPy.

Every other module asks this one for its array module::

    from npgan import backend
    xp = backend.get_backend()          # numpy or cupy
    y = xp.maximum(x, 0)

so the same layer, loss and optimiser code runs on the CPU (NumPy) and on an
NVIDIA GPU (CuPy). A test fails if any other module of ``npgan`` imports
numpy or cupy itself.

What lives here
---------------
* ``set_backend("numpy" | "cupy")`` / ``get_backend()``; the default comes
  from the environment variable ``NPGAN_BACKEND`` (``numpy`` when unset).
* ``set_dtype`` / ``get_dtype``: the default float type (float32; float64
  for gradient checks).
* ``asarray`` (to the current backend, in the current dtype), ``to_numpy``
  (always a host NumPy array), ``array_backend`` (which backend an array
  belongs to) and ``check_array`` (the clear error a layer raises when it is
  handed an array of the other backend or the wrong dtype).
* One seeded random generator: ``seed(n)``, ``normal``, ``uniform``,
  ``bernoulli``, ``integers``, ``permutation``, ``get_rng_state`` /
  ``set_rng_state``.

Randomness is drawn on the host and moved to the device. That costs a small
host-to-device copy per draw (noise vectors, dropout masks) but buys two
things a student can see: a seeded run draws the *same* numbers on the CPU
and on the GPU, and the generator state is a plain dict that a checkpoint
can save and restore on either backend.

On the CPU it also holds the thread count of npgan's own parallel loops
(``num_threads``, ``parallel_map``) and ``keep_freed_memory``, the C allocator
setting the command line uses so that each training step reuses the memory the
previous one freed.

``host`` is NumPy itself, for the few places that read or write files
(``.npz`` checkpoints, images), which are always host arrays.
"""

from __future__ import annotations

import contextlib
import os

# OpenBLAS (NumPy's matrix products) keeps its worker threads spinning for a while after
# every product (2^28 cycles by default, about 0.1 s), so the core they spin on is taken
# from the elementwise passes and ``parallel_for`` threads that follow. Ask them to sleep
# after 2^18 cycles (about 0.1 ms) instead, unless the user chose a value. Measured on the
# 2-core machine, 2 threads, ms per iteration (timeout 28 / 18 / 10): dcgan28 batch 256
# 570 / 435 / 458; mlp784 batch 64 9.5-10 / 10.0 / 11-12 (waking sleeping threads costs
# small products). It only acts when NumPy is first imported here (as ``npgan``, its
# command line and the benchmarks do).
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "18")

import numpy  # noqa: E402

host = numpy  # host-side NumPy, for file I/O and plotting only

__all__ = [
    "BackendUnavailableError",
    "BackendMismatchError",
    "host",
    "set_backend",
    "get_backend",
    "backend_name",
    "available_backends",
    "cupy_available",
    "set_dtype",
    "get_dtype",
    "asarray",
    "to_numpy",
    "array_backend",
    "check_array",
    "synchronize",
    "seed",
    "normal",
    "uniform",
    "bernoulli",
    "integers",
    "permutation",
    "get_rng_state",
    "set_rng_state",
    "keep_freed_memory",
]


class BackendUnavailableError(RuntimeError):
    """The requested array backend cannot be used on this machine."""


class BackendMismatchError(TypeError):
    """An array of the wrong backend or dtype was handed to npgan code."""


_BACKENDS = ("numpy", "cupy")
_DTYPES = {"float32": numpy.float32, "float64": numpy.float64}

_state = {"name": "numpy", "xp": numpy, "dtype": numpy.dtype(numpy.float32)}
_cupy_cache: dict = {}


def _load_cupy():
    """Import CuPy and make sure a CUDA device is usable; raise a clear error if not."""
    if "module" in _cupy_cache:
        return _cupy_cache["module"]
    if "error" in _cupy_cache:
        raise BackendUnavailableError(_cupy_cache["error"])
    try:
        import cupy  # noqa: PLC0415  (the one sanctioned cupy import)
    except Exception as exc:  # ImportError, or a broken CUDA install raising at import
        msg = (
            "backend 'cupy' is unavailable: CuPy is not installed or failed to import "
            f"({type(exc).__name__}: {exc}). Install it with: pip install -e '.[gpu]'"
        )
        _cupy_cache["error"] = msg
        raise BackendUnavailableError(msg) from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
        if count < 1:
            raise RuntimeError("0 CUDA devices found")
        cupy.zeros(1).sum().item()  # a real round trip: driver, context and kernel launch
    except Exception as exc:
        msg = (
            "backend 'cupy' is unavailable: CuPy is installed but no usable CUDA device "
            f"was found ({type(exc).__name__}: {exc})"
        )
        _cupy_cache["error"] = msg
        raise BackendUnavailableError(msg) from None
    _cupy_cache["module"] = cupy
    return cupy


def cupy_available() -> bool:
    """True when CuPy imports and a CUDA device answers."""
    try:
        _load_cupy()
    except BackendUnavailableError:
        return False
    return True


def available_backends() -> list:
    """The backends usable on this machine, ``numpy`` first."""
    return ["numpy"] + (["cupy"] if cupy_available() else [])


def set_backend(name: str):
    """Switch every npgan array operation to ``name`` ("numpy" or "cupy"); return the module.

    Raises ``BackendUnavailableError`` (saying whether CuPy is missing or no CUDA
    device is usable) before anything has changed.
    """
    if name not in _BACKENDS:
        raise ValueError(f"unknown backend {name!r}; expected one of {_BACKENDS}")
    xp = numpy if name == "numpy" else _load_cupy()
    _state["name"] = name
    _state["xp"] = xp
    return xp


def get_backend():
    """The current array module (``numpy`` or ``cupy``)."""
    return _state["xp"]


def backend_name() -> str:
    return _state["name"]


def set_dtype(dtype) -> None:
    """Set the default float dtype: "float32" (default) or "float64" (gradient checks)."""
    key = numpy.dtype(dtype).name
    if key not in _DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}; expected float32 or float64")
    _state["dtype"] = numpy.dtype(key)


def get_dtype():
    """The current default float dtype (a ``numpy.dtype``; CuPy uses the same objects)."""
    return _state["dtype"]


def array_backend(x) -> str | None:
    """"numpy", "cupy" or None (not an array) for ``x``."""
    if isinstance(x, numpy.ndarray):
        return "numpy"
    mod = type(x).__module__
    if mod.startswith("cupy"):
        return "cupy"
    return None


def asarray(x, dtype=None, copy: bool = False):
    """``x`` as an array of the current backend; floats cast to ``dtype`` (default: current).

    Without ``copy`` the result may share memory with ``x`` (no copy when ``x`` already
    has the right backend and dtype); with ``copy=True`` it never does.
    """
    xp = get_backend()
    if dtype is None:
        src = getattr(x, "dtype", None)
        if src is not None and numpy.dtype(src).kind in "iub":
            dtype = src  # integer labels stay integers
        else:
            dtype = get_dtype()
    if array_backend(x) == "cupy" and xp is numpy:
        x = x.get()
    return xp.array(x, dtype=dtype, copy=True) if copy else xp.asarray(x, dtype=dtype)


def to_numpy(x, copy: bool = False):
    """A host NumPy array holding ``x``.

    Without ``copy`` a NumPy input is returned as is (a GPU array is always copied
    to the host); with ``copy=True`` the result never shares memory with ``x``.
    """
    if array_backend(x) == "cupy":
        return x.get()
    return numpy.array(x, copy=True) if copy else numpy.asarray(x)


def check_array(x, where: str, dtype=None, ndim=None) -> None:
    """Raise a clear error unless ``x`` is an array of the current backend.

    ``where`` names the caller (e.g. ``"Conv2D(3->8, k=3)"``) so the message
    says which layer refused the input. With ``dtype`` the array must have that
    float dtype; with ``ndim`` (an int or a tuple of ints) that many axes.
    """
    kind = array_backend(x)
    current = backend_name()
    if kind is None:
        raise BackendMismatchError(
            f"{where}: expected a {current} array, received {type(x).__name__}"
        )
    if kind != current:
        raise BackendMismatchError(
            f"{where}: expected a {current} array (the current backend), received a {kind} "
            f"array; move it with npgan.backend.asarray(x) or switch with set_backend({kind!r})"
        )
    if dtype is not None and x.dtype != dtype:
        raise BackendMismatchError(
            f"{where}: expected dtype {numpy.dtype(dtype).name}, received {x.dtype.name}"
        )
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            want = " or ".join(f"{n}-D" for n in allowed)
            raise ValueError(f"{where}: expected a {want} input, received shape {tuple(x.shape)}")


def synchronize() -> None:
    """Wait for queued GPU work to finish (a no-op on NumPy); use before reading a timer."""
    if _state["name"] == "cupy":
        _state["xp"].cuda.get_current_device().synchronize()


# --------------------------------------------------------------------------- randomness
_rng = {"gen": numpy.random.default_rng(0)}


def seed(n: int) -> None:
    """Reseed npgan's one random generator (initialisers, noise, dropout, batches)."""
    _rng["gen"] = numpy.random.default_rng(n)


@contextlib.contextmanager
def preserved_rng():
    """Run the body with the random state saved and restored: draws made inside (evaluation,
    building a network only to load weights into it) do not change what comes after."""
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


def _draw(values, dtype):
    return asarray(values, dtype=dtype if dtype is not None else get_dtype())


def normal(shape, mean=0.0, std=1.0, dtype=None):
    """Draw N(mean, std^2) samples of ``shape`` in the current backend and dtype."""
    return _draw(_rng["gen"].normal(mean, std, size=shape), dtype)


def uniform(shape, low=0.0, high=1.0, dtype=None):
    """Draw U[low, high) samples of ``shape`` in the current backend and dtype."""
    return _draw(_rng["gen"].uniform(low, high, size=shape), dtype)


def bernoulli(shape, p_one, dtype=None):
    """0/1 samples that are 1 with probability ``p_one`` (dropout's keep mask)."""
    return _draw(_rng["gen"].random(size=shape) < p_one, dtype)


def integers(low, high, size):
    """Integers in [low, high) as a host NumPy array (indices for batching)."""
    return _rng["gen"].integers(low, high, size=size)


def permutation(n: int):
    """A random permutation of range(n) as a host NumPy array."""
    return _rng["gen"].permutation(n)


def get_rng_state() -> dict:
    """The generator's full state (a plain dict, safe to put in a checkpoint)."""
    return _rng["gen"].bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state returned by ``get_rng_state``."""
    gen = numpy.random.default_rng()
    gen.bit_generator.state = state
    _rng["gen"] = gen


# default backend from the environment, so `NPGAN_BACKEND=cupy pytest` just works
_env = os.environ.get("NPGAN_BACKEND", "").strip().lower()
if _env:
    set_backend(_env)


# --------------------------------------------------------------------------- CPU threads
# NumPy runs its matrix products on all the cores BLAS is given, but every elementwise
# operation on one core. ``parallel_for`` splits a batch-sized piece of such work (the
# im2col gather, the col2im scatter-add) into one chunk per thread, so it uses the cores
# the matrix products use. The chunks are contiguous slices of the batch, each handled by
# the same vectorised code; nothing loops over samples. On CuPy the GPU is already parallel
# and the work runs as one call.
_threads = {"n": None, "pool": None}
# elementwise passes (BatchNorm, activations) are split between threads from this many
# elements (2 MB of float32): below it a thread hand-off costs more than it saves (measured:
# a 2^20-element maximum takes 343 us inline, 295 us on 2 threads; 2^18: 65 us, 108 us)
ELEMENTWISE_MIN_WORK = 1 << 19


def num_threads() -> int:
    """Threads for ``parallel_for`` on NumPy: ``set_num_threads``, else ``$NPGAN_NUM_THREADS``,
    else ``$OMP_NUM_THREADS`` (the BLAS thread count), else the cores this process may use."""
    if _threads["n"] is None:
        for var in ("NPGAN_NUM_THREADS", "OMP_NUM_THREADS"):
            value = os.environ.get(var, "")
            if value.strip().isdigit() and int(value) >= 1:
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
    t = min(num_threads(), n) if _state["name"] == "numpy" else 1
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


# --------------------------------------------------------------------------- CPU memory
# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory() -> bool:
    """Ask the C allocator (glibc) to keep freed memory in the process for the next allocation.

    A training iteration allocates and frees the same large temporaries every step (im2col
    columns, activations and their gradients). By default glibc hands blocks over 32 MB
    straight back to the kernel when they are freed, and trims free memory at the top of its
    heap; the next iteration then takes page faults to get it back, each new page
    zero-filled by the kernel (a dcgan28 iteration at batch 256: about 8,000 faults). With
    the mmap threshold raised to 1 GB and trimming off, the freed memory is reused as it is.
    The cost: the process keeps its peak memory for its lifetime instead of shrinking
    between iterations.

    This is a process-wide setting, so importing npgan never does it; the ``npgan`` command
    line and the benchmarks call it. With ``NPGAN_KEEP_FREED_MEMORY=0`` in the environment
    it leaves the allocator alone. Returns True where it took effect (glibc on Linux);
    elsewhere, or when opted out, it changes nothing and returns False. CuPy keeps its own
    memory pool and is not affected.
    """
    import platform
    if os.environ.get("NPGAN_KEEP_FREED_MEMORY", "1").strip() == "0":
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    import ctypes
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; the trim threshold is an int, so INT_MAX means "never"
    return bool(mallopt(_M_MMAP_THRESHOLD, 1 << 30)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
