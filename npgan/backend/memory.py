"""The C allocator setting that lets each training step reuse the memory the previous one freed."""

from __future__ import annotations

import os

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
