"""The backend: the one place in npgan that knows NumPy from CuPy.

Every other module asks it for its array module::

    from npgan import backend
    xp = backend.get_backend()          # numpy or cupy
    y = xp.maximum(x, 0)

so the same layer, loss and optimiser code runs on the CPU (NumPy) and on an
NVIDIA GPU (CuPy). A test fails if any module outside this package imports
numpy or cupy itself. One module per concept:

* ``arrays``: the array-module switch (``set_backend``, ``get_backend``; the
  default from ``$NPGAN_BACKEND``), the default dtype (float32; float64 for
  gradient checks), conversions and the clear errors a layer raises;
* ``rng``: the one seeded random generator (``seed``, ``normal``, ...);
* ``threads``: the thread count of npgan's own parallel loops on the CPU, and
  OpenBLAS's idle-thread setting;
* ``memory``: ``keep_freed_memory``, the C allocator setting the command line uses.
"""

from __future__ import annotations

import os

# isort: off
from . import threads  # first: it sets OpenBLAS's environment before anything imports NumPy
# isort: on
from . import arrays, memory, rng
from .arrays import (
    BackendMismatchError,
    BackendUnavailableError,
    array_backend,
    asarray,
    available_backends,
    backend_name,
    check_array,
    cupy_available,
    cupy_unavailable_reason,
    environment_error,
    get_backend,
    get_dtype,
    host,
    set_backend,
    set_dtype,
    synchronize,
    to_numpy,
)
from .memory import keep_freed_memory
from .rng import bernoulli, get_rng_state, integers, normal, permutation, preserved_rng, seed, set_rng_state, uniform
from .threads import (
    ThreadGovernor,
    elementwise_min_work,
    limit_threads,
    num_threads,
    parallel_for,
    parallel_map,
    set_elementwise_min_work,
    set_num_threads,
    user_chose_threads,
)

__all__ = [
    # arrays
    "BackendUnavailableError", "BackendMismatchError", "host", "set_backend", "get_backend",
    "backend_name", "available_backends", "cupy_available", "cupy_unavailable_reason",
    "set_dtype", "get_dtype", "asarray", "to_numpy", "array_backend", "check_array", "synchronize",
    # rng
    "seed", "normal", "uniform", "bernoulli", "integers", "permutation", "get_rng_state",
    "set_rng_state", "preserved_rng",
    # threads
    "num_threads", "set_num_threads", "parallel_map", "parallel_for", "elementwise_min_work",
    "set_elementwise_min_work", "ThreadGovernor", "limit_threads", "user_chose_threads",
    # memory
    "keep_freed_memory",
    "environment_error",
    # the submodules
    "arrays", "rng", "threads", "memory",
]

# the default backend from the environment, so `NPGAN_BACKEND=cupy python -m pytest` just works;
# importing npgan never fails on it (see arrays.environment_error)
if os.environ.get("NPGAN_BACKEND", "").strip():
    arrays.backend_from_environment(os.environ["NPGAN_BACKEND"])
