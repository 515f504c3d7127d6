"""npgan: generative adversarial networks from scratch, with every backward pass written by hand.

    from npgan import backend, nn, losses, optim, gradcheck

The subpackages load on first use (``npgan.nn``, or ``from npgan import nn``): importing
``npgan`` itself loads no array library and changes nothing in the process, so that the
command line can set OpenBLAS's environment before NumPy loads (``npgan.__main__``).
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = ("backend", "nn", "losses", "optim", "gradcheck", "data", "evaluation", "training",
               "kernels", "runtime", "gan", "io", "idx", "exercises", "cli")
_FROM_SUBMODULE = {"GANTrainer": "gan", "MMDTrainer": "gan"}

__all__ = ["backend", "nn", "losses", "optim", "gradcheck", "data", "evaluation", "training",
           "GANTrainer", "MMDTrainer", "__version__"]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _FROM_SUBMODULE:
        return getattr(importlib.import_module(f"{__name__}.{_FROM_SUBMODULE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES) | set(_FROM_SUBMODULE))
