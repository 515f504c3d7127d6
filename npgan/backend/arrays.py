"""The array-module switch: which module (NumPy or CuPy) holds npgan's arrays, in which dtype.

``set_backend`` / ``get_backend`` / ``backend_name``; ``set_dtype`` / ``get_dtype``;
``asarray`` (to the current backend and dtype), ``to_numpy`` (to the host),
``array_backend`` (which backend an array belongs to), ``check_array`` (the clear
error a layer raises for an array of the other backend, dtype or rank) and
``synchronize`` (wait for queued GPU work). ``host`` is NumPy itself, for the few
places that read or write files.
"""

from __future__ import annotations

import warnings

import numpy

host = numpy  # host-side NumPy, for file I/O and plotting only


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
        cupy.zeros(1).sum().item()  # a real round trip: driver, context, kernel compile and launch
    except Exception as exc:
        msg = f"backend 'cupy' is unavailable: {_diagnose(exc)} ({type(exc).__name__}: {exc})"
        _cupy_cache["error"] = msg
        raise BackendUnavailableError(msg) from None
    _cupy_cache["module"] = cupy
    return cupy


def _diagnose(exc) -> str:
    """Which part of a GPU set-up is missing, from the error CuPy raised."""
    text = str(exc)
    if "InsufficientDriver" in text or "libcuda.so" in text:
        return "the NVIDIA driver is missing or older than this CuPy build needs"
    if any(s in text for s in ("nvrtc", "cannot open shared object", "libcu", "CUDA_PATH")):
        return ("a CUDA library is missing: install CuPy with its CUDA libraries, "
                "pip install 'cupy-cuda12x[ctk]' (the gpu extra), or the CUDA toolkit")
    return "CuPy is installed but no CUDA device was found"


def cupy_unavailable_reason() -> str | None:
    """None when CuPy imports and a CUDA device answers; otherwise why not, in one sentence."""
    try:
        _load_cupy()
    except BackendUnavailableError as exc:
        return str(exc)
    return None


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
    if _env_error:
        _warn_environment()
    return _state["xp"]


_env_error: list = []  # why $NPGAN_BACKEND could not be honoured, and whether that was said


def backend_from_environment(value: str) -> None:
    """Switch to ``$NPGAN_BACKEND``'s backend; if it cannot be used, stay on NumPy and keep why:
    the first ``get_backend()`` warns, and the command line refuses with one line."""
    try:
        set_backend(value.strip().lower())
    except (ValueError, BackendUnavailableError) as exc:
        _env_error[:] = [f"NPGAN_BACKEND={value!r}: {exc}", False]


def environment_error():
    """Why ``$NPGAN_BACKEND`` could not be honoured at import (None when it was, or is unset)."""
    return _env_error[0] if _env_error else None


def _warn_environment() -> None:
    if not _env_error[1]:
        _env_error[1] = True
        warnings.warn(f"{_env_error[0]}; using numpy", RuntimeWarning, stacklevel=3)


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


def check_array(x, where, dtype=None, ndim=None) -> None:
    """Raise a clear error unless ``x`` is an array of the current backend.

    ``where`` names the caller (e.g. ``"Conv2D(3->8, k=3)"``), or is a function returning that
    name, called only for an error (a layer's name is a formatted string, and the check runs on
    every pass), so the message says which layer refused the input. With ``dtype`` the array
    must have that float dtype; with ``ndim`` (an int or a tuple of ints) that many axes.
    """
    kind = array_backend(x)
    current = backend_name()
    if kind == current and (dtype is None or x.dtype == dtype) and (ndim is None or x.ndim == ndim or (
            not isinstance(ndim, int) and x.ndim in ndim)):
        return
    where = where() if callable(where) else where
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
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    want = " or ".join(f"{n}-D" for n in allowed)
    raise ValueError(f"{where}: expected a {want} input, received shape {tuple(x.shape)}")


def synchronize() -> None:
    """Wait for queued GPU work to finish (a no-op on NumPy); use before reading a timer."""
    if _state["name"] == "cupy":
        _state["xp"].cuda.Device().synchronize()


