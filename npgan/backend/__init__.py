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
* ``rng``: the one seeded random generator (``seed``, ``normal``, ...).

Process tuning (threads, the C allocator, OpenBLAS's environment) is not here: it lives in
``npgan.runtime``, which only the command line (or a user who asks) calls.
"""

from __future__ import annotations

import os

from . import arrays, rng
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
from .rng import bernoulli, get_rng_state, integers, normal, permutation, preserved_rng, seed, set_rng_state, uniform

__all__ = [
    # arrays
    "BackendUnavailableError", "BackendMismatchError", "host", "set_backend", "get_backend",
    "backend_name", "available_backends", "cupy_available", "cupy_unavailable_reason",
    "set_dtype", "get_dtype", "asarray", "to_numpy", "array_backend", "check_array", "synchronize",
    # rng
    "seed", "normal", "uniform", "bernoulli", "integers", "permutation", "get_rng_state",
    "set_rng_state", "preserved_rng",
    "environment_error",
    # the submodules
    "arrays", "rng",
]

# the default backend from the environment, so `NPGAN_BACKEND=cupy python -m pytest` just works;
# importing npgan never fails on it (see arrays.environment_error)
if os.environ.get("NPGAN_BACKEND", "").strip():
    arrays.backend_from_environment(os.environ["NPGAN_BACKEND"])
