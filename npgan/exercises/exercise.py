"""One exercise: a worked solution whose backward body the learner writes, and the cases it is graded on.

The solution is the one source of both files a learner gets: the skeleton is the same text with the
backward's body, between the two marker comments, replaced by ``raise NotImplementedError``, so the
skeleton and the solution cannot drift apart (same names, same forward, same docstring).
"""

from __future__ import annotations

import functools
import os
import re
import types
from dataclasses import dataclass, field
from typing import Callable

SOLUTIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "solutions")


def solution_source(name: str) -> str:
    """The worked solution of exercise `name`: the learner's file, kept as it is in
    `npgan/exercises/solutions/NAME.txt` (plain NumPy: a learner's file imports NumPy, npgan's own
    code does not); its skeleton is made from it."""
    with open(os.path.join(SOLUTIONS, f"{name}.txt"), encoding="utf-8") as f:
        return f.read()


BEGIN = "# --- your code"  # the marker line starts so: "# --- your code: compute dx, dW and db ---"
END = "# --- end of your code ---"
TODO = 'raise NotImplementedError("write the backward")'
_BODY = re.compile(r"^( *)# --- your code[^\n]*\n(.*?)^\1# --- end of your code ---$", re.M | re.S)


@dataclass
class Case:
    """One drawn case: the forward's arguments in order (arrays and numbers), the names of those the
    backward returns gradients for (in its return order: ``("x", "W", "b")`` for ``dx, dW, db``), and
    named sizes that hints may quote (``{"N": 4}``: the batch size behind a 1/N). The grader sets
    ``dout``, the upstream gradient, for a layer (None for a loss)."""

    args: dict
    wrt: tuple
    sizes: dict = field(default_factory=dict)
    dout: object = None

    def describe(self) -> str:
        """``x (4, 3), W (3, 2), b (2,), stride 2``: the arrays' shapes and the other arguments."""
        return ", ".join(f"{k} {tuple(v.shape)}" if hasattr(v, "shape") else f"{k} {v}" for k, v in self.args.items())


@dataclass(frozen=True)
class Exercise:
    """An exercise, declared once.

    ``source`` is the worked solution's file text: a forward function (given to the learner) and a
    backward function whose body lies between the marker lines ``# --- your code...---`` and
    ``# --- end of your code ---``. ``forward`` and ``backward`` name the two functions; ``cases(rng)``
    draws the list of `Case` the grader checks; ``mistakes`` are the `npgan.exercises.grader.Mistake`
    it recognises, in the order it tries them. A layer's backward is ``backward(dout, cache)``; with
    ``loss`` the forward returns a scalar and the backward is ``backward(cache)``.
    """

    name: str
    summary: str
    source: str
    forward: str
    backward: str
    cases: Callable
    mistakes: tuple = ()
    loss: bool = False

    def __post_init__(self):
        if len(_BODY.findall(self.source)) != 1:
            raise ValueError(f"exercise {self.name}: its source needs exactly one '{BEGIN} ... ---' / '{END}' block")
        for fn in (self.forward, self.backward):
            if f"\ndef {fn}(" not in self.source:
                raise ValueError(f"exercise {self.name}: its source defines no function {fn}()")
        keys = [m.key for m in self.mistakes]
        if len(set(keys)) != len(keys):
            raise ValueError(f"exercise {self.name}: two mistakes share a key ({keys})")

    @property
    def solution(self) -> str:
        """The worked solution's file text."""
        return self.source

    @property
    def skeleton(self) -> str:
        """The file the learner starts from: the solution with the backward's body replaced by TODO."""
        m = _BODY.search(self.source)
        return self.source[:m.start(2)] + f"{m.group(1)}{TODO}\n" + self.source[m.end(2):]

    def edited(self, edits=()) -> str:
        """The solution with each ``(old, new)`` of `edits` applied; each ``old`` must occur exactly once."""
        text = self.source
        for old, new in edits:
            if text.count(old) != 1:
                raise ValueError(f"exercise {self.name}: {old!r} occurs {text.count(old)} times in its source, not once")
            text = text.replace(old, new)
        return text

    def module(self, edits=()):
        """The worked solution (with `edits` applied) as a module: the grader's reference."""
        return _compile(self.edited(tuple(edits)), f"<npgan exercise {self.name}>")


@functools.lru_cache(maxsize=64)
def _compile(text: str, filename: str):
    """Run a solution's text as a fresh module (cached: the grader asks for the same variants often)."""
    module = types.ModuleType(filename)
    exec(compile(text, filename, "exec"), module.__dict__)
    return module
