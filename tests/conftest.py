"""Shared fixtures: every test that takes ``backend_name`` runs once per usable backend.

CuPy cases are skipped with a reason when CuPy is missing or no CUDA device
answers (CI), and run for real where a GPU is at hand
(``NPGAN_BACKEND`` does not need to be set for that).
"""

import os

import pytest
from hypothesis import HealthCheck, settings

from npgan import backend as B

settings.register_profile(
    "npgan",
    deadline=None,
    max_examples=100,
    # CI (CI=true) replays the same examples on every run, so that a red CI names a change, not
    # a draw; runs elsewhere draw new examples each time and keep finding new cases
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("npgan")

_CUPY_REASON = B.cupy_unavailable_reason()  # None where CuPy and a device are usable

BACKENDS = [
    "numpy",
    pytest.param("cupy", marks=pytest.mark.skipif(_CUPY_REASON is not None,
                                                  reason=_CUPY_REASON or "")),
]


@pytest.fixture(params=BACKENDS)
def backend_name(request):
    """Run the test under each usable backend, restoring the previous one afterwards."""
    previous = B.backend_name()
    B.set_backend(request.param)
    yield request.param
    B.set_backend(previous)


@pytest.fixture(scope="module", params=BACKENDS)
def module_backend(request):
    """``backend_name`` for a module-scoped fixture (an expensive set-up made once per backend)."""
    previous = B.backend_name()
    B.set_backend(request.param)
    yield request.param
    B.set_backend(previous)


@pytest.fixture
def numpy_backend():
    """For the few tests about NumPy itself (threads, host memory): NumPy whatever is current."""
    previous = B.backend_name()
    B.set_backend("numpy")
    yield "numpy"
    B.set_backend(previous)


@pytest.fixture
def f64(backend_name):
    """float64 on each backend, seeded: the setting for gradient checks."""
    B.set_dtype("float64")
    B.seed(1234)
    yield backend_name
    B.set_dtype("float32")


@pytest.fixture(autouse=True)
def _restore_dtype():
    yield
    B.set_dtype("float32")
