"""Exercises: write a backward pass by hand, graded by central differences (``npgan exercise``).

As in cs231n, where students' backward passes are graded with numerical gradients: ``start``
writes a file with the forward given and the backward to write, ``check`` grades it against
central differences in float64 on drawn cases (seeded: shapes, batch sizes, strides, paddings)
and names the wrong tensor, its worst entry and, where it recognises the mistake, a hint;
``solution`` writes the worked solution in the same format.

``EXERCISES`` maps each name to its `Exercise`, declared in one of the modules beside this one:
its solution text (the skeleton is made from it), its function names, its case generator and
the mistakes it recognises (`npgan.exercises.grader`). A new exercise is one more declaration,
listed here.
"""

from __future__ import annotations

import os

from .conv import CONV2D, CONV_TRANSPOSE2D
from .exercise import Case, Exercise
from .grader import Mistake, grade
from .layers import DENSE, LEAKY_RELU, RELU, SIGMOID
from .losses import NON_SATURATING, SIGMOID_CROSS_ENTROPY
from .normalization import BATCHNORM, LAYERNORM
from .penalty import WGAN_GP

EXERCISES = {e.name: e for e in (DENSE, RELU, LEAKY_RELU, SIGMOID, SIGMOID_CROSS_ENTROPY, NON_SATURATING,
                                 CONV2D, CONV_TRANSPOSE2D, BATCHNORM, LAYERNORM, WGAN_GP)}

__all__ = ["EXERCISES", "Exercise", "Case", "Mistake", "get", "listing", "start", "solution", "check"]


def get(name: str) -> Exercise:
    """The exercise called ``name``; a ValueError that lists them otherwise."""
    if name not in EXERCISES:
        raise ValueError(f"no exercise {name!r}; the exercises: {', '.join(EXERCISES)} (npgan exercise list)")
    return EXERCISES[name]


def listing() -> str:
    """One line per exercise: its name, then what it asks for."""
    width = max(map(len, EXERCISES))
    return "\n".join(f"{name:<{width}}  {e.summary}" for name, e in EXERCISES.items())


def _write(text: str, name: str, folder, force: bool) -> str:
    folder = os.fspath(folder)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise NotADirectoryError(f"{folder} is a file, not a folder: give the folder to write {name}.py in")
    path = os.path.join(folder, f"{name}.py")
    if os.path.exists(path) and not force:
        raise FileExistsError(f"{path} exists; pass --force to overwrite it")
    os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def start(name: str, folder, force: bool = False) -> str:
    """Write ``folder/name.py``, the skeleton (forward given, backward to write); return its path.
    An existing file is kept (FileExistsError) unless ``force``."""
    return _write(get(name).skeleton, name, folder, force)


def solution(name: str, folder, force: bool = False) -> str:
    """Write ``folder/name.py``, the worked solution in the skeleton's format; return its path."""
    return _write(get(name).solution, name, folder, force)


def check(name: str, path) -> tuple:
    """Grade the file at ``path``: ``(exit status, report)``, 0 when its backward is right, 1 when
    it is wrong or not written yet. A file that does not load, or lacks the exercise's functions,
    raises ValueError (FileNotFoundError when there is no file)."""
    return grade(get(name), path)
