"""What the benchmarks share: the process's set-up (thread pinning, TF32, the allocator), the
seeded backend, synchronised medians and A/B blocks, the load of other processes, and the one
header line every benchmark's output starts with.

It imports neither NumPy nor npgan at its top: ``prepare_process`` must pin the thread counts
before NumPy's BLAS loads, so the helpers that need npgan import it when called.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time


def pin_threads(n: int) -> None:
    """Limit BLAS/OpenMP threads and npgan's own (parallel_for); before numpy or torch is imported."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NPGAN_NUM_THREADS"):
        os.environ[var] = str(n)


def prepare_process(threads: int, tf32: bool = False) -> str:
    """Pin the thread counts and choose TF32 for CuPy (both before numpy, cupy or torch is
    imported), then set the C allocator as the ``npgan`` command line does
    (``npgan.runtime.keep_freed_memory``; it acts on the whole process, so on PyTorch's side
    of an A/B as well). Returns the allocator's state for the header line."""
    from npgan import runtime  # imports no NumPy: OpenBLAS's environment is set before it loads
    runtime.blas_environment()
    pin_threads(threads)
    # CuPy reads CUPY_TF32 when it is imported: 1 lets cuBLAS round float32 products' inputs
    # to TF32 on tensor cores (Ampere and later); 0, CuPy's default, keeps full float32
    os.environ["CUPY_TF32"] = "1" if tf32 else "0"
    return "allocator: keeps freed memory" if runtime.keep_freed_memory() else "allocator: default"


def seeded_backend(name: str | None = None, seed: int = 0):
    """npgan's backend module, switched to the backend ``name`` (None: the current one) and
    seeded: every benchmark builds its networks and data from the same draw, so two runs, or
    the two sides of an A/B, time the same numbers."""
    from npgan import backend as B
    if name is not None:
        B.set_backend(name)
    B.seed(seed)
    return B


def set_torch_tf32(torch, on: bool) -> None:
    """Make PyTorch's CUDA matrix products and cuDNN convolutions use TF32 or not, as CuPy's
    side does (PyTorch's own defaults differ: matrix products off, convolutions on). The
    ``fp32_precision`` settings where this PyTorch has them (mixing them with the older
    ``allow_tf32`` flags is an error there), else ``allow_tf32``."""
    if hasattr(torch.backends.cuda.matmul, "fp32_precision"):
        torch.backends.cuda.matmul.fp32_precision = "tf32" if on else "ieee"
        torch.backends.cudnn.conv.fp32_precision = "tf32" if on else "ieee"
    else:
        torch.backends.cuda.matmul.allow_tf32 = on
        torch.backends.cudnn.allow_tf32 = on


def torch_device(torch, backend: str):
    """(device, synchronise) on which PyTorch runs beside npgan's ``backend``: the CPU beside
    NumPy, the CUDA device beside CuPy; None where PyTorch is absent or has no CUDA."""
    if torch is None:
        return None
    if backend != "cupy":
        return "cpu", lambda: None
    return ("cuda", torch.cuda.synchronize) if torch.cuda.is_available() else None


def tf32_line(torch) -> str:
    """Whether TF32 is on in each side's float32 products, for a GPU table's header."""
    line = f"TF32: CuPy {'on' if os.environ.get('CUPY_TF32') == '1' else 'off'} (CUPY_TF32)"
    if torch is None:
        return line
    if hasattr(torch.backends.cuda.matmul, "fp32_precision"):
        matmul = torch.backends.cuda.matmul.fp32_precision == "tf32"
        conv = torch.backends.cudnn.conv.fp32_precision == "tf32"
    else:
        matmul, conv = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    return line + f", PyTorch matmul {'on' if matmul else 'off'}, cuDNN conv {'on' if conv else 'off'}"


class LoadMeter:
    """CPU used by *other* processes while timing, as a fraction of the machine's cores (NaN
    where /proc/stat is not there); the same reading npgan's ``ThreadGovernor`` acts on."""

    def __enter__(self):
        from npgan.runtime import machine_cpu_seconds
        self.wall, self.mark = time.perf_counter(), machine_cpu_seconds()
        return self

    def __exit__(self, *exc):
        from npgan.runtime import machine_cpu_seconds
        wall, now = time.perf_counter() - self.wall, machine_cpu_seconds()
        if self.mark is None or now is None:
            self.other_load = float("nan")
            return False
        other = (now[0] - self.mark[0]) - (now[1] - self.mark[1])
        self.other_load = max(other, 0.0) / (wall * (os.cpu_count() or 1))
        return False


def _time_calls(fn, sync, count: int, times: list) -> None:
    """Append the wall time of ``count`` calls of fn(), each synchronised, to ``times``."""
    for _ in range(count):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)


def _median(times):
    return sorted(times)[len(times) // 2]


def time_fn(fn, sync=lambda: None, repeat: int = 20, warmup: int = 3) -> float:
    """Median wall time of fn() in seconds, after warm-up, synchronising the device each call."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    _time_calls(fn, sync, repeat, times)
    return _median(times)


def time_ab(fa, fb, sync_a=lambda: None, sync_b=lambda: None, repeat: int = 20, warmup: int = 3,
            rounds: int = 5):
    """Median wall times (seconds) of fa() and fb(), timed in alternating blocks: a a a, b b b,
    a a a, b b b, ... (``rounds`` blocks of each, ceil(repeat / rounds) timed calls a block).

    On a shared machine the speed drifts from one second to the next; timing all of a
    and then all of b puts that drift into the ratio, and alternating exposes both to the
    same conditions. Whole blocks rather than single calls, each after one untimed call,
    so that each side runs with its thread pools awake and its data in cache (alternating
    call by call leaves each side with cold caches and sleeping threads).
    """
    for _ in range(warmup):
        fa()
        sync_a()
        fb()
        sync_b()
    ta, tb = [], []
    block = max(1, -(-repeat // rounds))
    for _ in range(rounds):
        for fn, sync, times in ((fa, sync_a, ta), (fb, sync_b, tb)):
            fn()  # untimed: wakes this side's threads after the other side ran
            sync()
            _time_calls(fn, sync, block, times)
    return _median(ta), _median(tb)


def cpu_model() -> str:
    """The CPU's model name (Linux), else the platform's processor string."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_line() -> str:
    """The host, its architecture and CPU model, its core count and the Python version."""
    return (f"{platform.node()} {platform.machine()} {cpu_model()}, {os.cpu_count()} cores, "
            f"Python {sys.version.split()[0]}")


def header_line(*details, threads: int | None = None, allocator: str | None = None) -> str:
    """What every benchmark's output starts with, in one format, its parts joined by ``; ``:
    the machine (``machine_line``), NumPy's version, the date, the thread count and the
    allocator setting where the benchmark sets them, then the benchmark's own details
    (backend, model, batch, dtype, PyTorch, GPU; empty ones left out). Tables print it after
    ``# ``; after ``prepare_process``, since it imports NumPy."""
    import numpy
    parts = [machine_line(), f"NumPy {numpy.__version__}", time.strftime("%Y-%m-%d")]
    if threads is not None:
        parts.append(f"{threads} thread(s)")
    if allocator:
        parts.append(allocator)
    return "; ".join(parts + [str(d) for d in details if d])


def gpu_info() -> dict:
    """The CUDA device, driver, runtime and CuPy version, for a GPU table's header."""
    import cupy
    rt = cupy.cuda.runtime
    props = rt.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    return {"gpu": f"{name}, {props['totalGlobalMem'] / 2**30:.0f} GiB, driver CUDA {rt.driverGetVersion()}, "
                   f"runtime {rt.runtimeGetVersion()}, CuPy {cupy.__version__}"}


def layer_timing_arguments(doc: str, argv=None, models=(), batch: int = 64, repeat: int = 20):
    """(arguments, allocator line) for a benchmark that times layers at one batch size:
    --threads, --batch, --repeat, --backend, --tf32 (and --model, one of ``models``, where
    given); the process prepared as ``prepare_process`` does."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if models:
        ap.add_argument("--model", choices=list(models), default=list(models)[-1])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--repeat", type=int, default=repeat)
    ap.add_argument("--backend", default="numpy", choices=["numpy", "cupy"])
    ap.add_argument("--tf32", action="store_true", help="TF32 products on the GPU, on both sides (default: off)")
    args = ap.parse_args(argv)
    return args, prepare_process(args.threads, args.tf32)
