r"""Grading a learner's backward pass, and recognising the usual mistakes in a wrong one.

`grade` loads the learner's file, draws the exercise's cases with a seeded generator, and for each
case compares the gradients the learner's backward returns with central differences
(`npgan.gradcheck.numerical_gradient`, float64) of the worked solution's forward: for a layer, of
the scalar $\langle \text{out}, \bar{\text{out}} \rangle$ with a random upstream gradient
$\bar{\text{out}}$ (`dout`); for a loss, of the loss itself. A correct backward agrees to about
$10^{-9}$ relative error (`npgan.gradcheck.compare`'s measure); a wrong one is off by $O(1)$.

For a wrong tensor the exercise's `Mistake` list is tried in order, and the first that explains the
received gradient gives the hint: the right gradient transposed, with its sign flipped, scaled by a
stray factor (1/N, lambda, 2), not summed over the batch (a shape with the batch axis left in), or
equal to what a variant of the worked solution computes (a stride or padding off by one, a path of
the chain rule left out...).
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import itertools
import os
import traceback
from dataclasses import dataclass
from typing import Callable

from .. import backend as B
from ..gradcheck import SCALE_FLOOR, compare, numerical_gradient
from .exercise import Case, Exercise

TOL = 1e-6     # the largest relative error a correct backward may show (it shows about 1e-9)
CLOSE = 1e-5   # how near a wrong gradient must come to a mistake's for the hint to be given
EPS = 1e-6     # the central difference's step
SEED = 0       # every check draws the same cases


class _Fail(Exception):
    """A wrong answer found before the comparison (a bad return value, a changed forward)."""


@dataclass(frozen=True)
class Mistake:
    """A mistake the grader recognises. ``key`` names it in the report (``hint (sign): ...``);
    ``example`` is a list of ``(old, new)`` edits that make it in the worked solution (the tests write
    that file and expect this hint); ``spot(trial, name, got)`` returns the hint when ``got``, the
    learner's gradient for input ``name``, is this mistake, else None."""

    key: str
    example: tuple
    spot: Callable


@dataclass
class Trial:
    """One case under grading: its numerical gradients ``want`` (input name -> array)."""

    exercise: Exercise
    case: Case
    want: dict

    def variant(self, edits) -> dict:
        """The gradients (input name -> array) of the worked solution with ``edits`` made; {} if it fails."""
        try:
            module = self.exercise.module(edits)
            _, cache = call_forward(self.exercise, module, self.case)
            return dict(zip(self.case.wrt, call_backward(self.exercise, module, self.case, cache)))
        except Exception:  # a variant that does not run explains nothing
            return {}


def close(a, b) -> bool:
    """Whether arrays a and b agree to `CLOSE`, relative to the larger of them (False if either is None)."""
    if a is None or b is None or B.host.shape(a) != B.host.shape(b):
        return False
    a, b = B.host.asarray(a, dtype=B.host.float64), B.host.asarray(b, dtype=B.host.float64)
    if a.size == 0:
        return True
    scale = max(float(abs(a).max()), float(abs(b).max()), SCALE_FLOOR)
    return bool(abs(a - b).max() <= CLOSE * scale)


# ----------------------------------------------------------------------------- the mistakes

def sign(*example) -> Mistake:
    """The right gradient with its sign flipped."""
    def spot(trial, name, got):
        if close(-got, trial.want[name]):
            return f"d{name} is the right gradient with its sign flipped: look for a minus sign too many or too few"
    return Mistake("sign", example, spot)


def transpose(*example) -> Mistake:
    """The right gradient of a matrix, transposed."""
    def spot(trial, name, got):
        want = trial.want[name]
        if got.ndim == 2 and close(got.T, want):
            return (f"d{name} is the transpose of the right gradient (a missing or extra transpose): it must "
                    f"have {name}'s shape {want.shape}, entry [i, j] being dL/d{name}[i, j]")
    return Mistake("transpose", example, spot)


def batch_sum(*example) -> Mistake:
    """A parameter's gradient left per sample (or per position): the sum over some axes is right."""
    def spot(trial, name, got):
        want = trial.want[name]
        for axes in itertools.combinations(range(got.ndim), max(got.ndim - want.ndim, 0)):
            if axes and close(got.sum(axis=axes), want):
                over = f"axis {axes[0]}" if len(axes) == 1 else f"axes {axes}"
                users = "every sample" + (" and every position" if len(axes) > 1 else "")
                return (f"d{name} has shape {got.shape}, not {name}'s {want.shape}: sum it over {over}. {name} is "
                        f"shared by {users}, so its gradient is the sum of their contributions")
    return Mistake("batch-sum", example, spot)


def scale(key: str, ratio: Callable, hint: str, *example) -> Mistake:
    """The right gradient times a stray factor: ``ratio(sizes)`` is received / right, ``hint`` a
    format string that may use ``{tensor}`` and the case's sizes (``{N}``)."""
    def spot(trial, name, got):
        if close(got, trial.want[name] * ratio(trial.case.sizes)):
            return hint.format(tensor=f"d{name}", **trial.case.sizes)
    return Mistake(key, example, spot)


def variant(key: str, alternatives) -> Mistake:
    """What a variant of the worked solution computes. ``alternatives`` is a list of ``(edits, hint)``;
    the first whose edited solution gives the received gradient gives its hint (``{tensor}`` and the
    case's sizes filled in). The first alternative's edits are the mistake's example."""
    alternatives = [(tuple(edits), hint) for edits, hint in alternatives]

    def spot(trial, name, got):
        for edits, hint in alternatives:
            if close(got, trial.variant(edits).get(name)):
                return hint.format(tensor=f"d{name}", **trial.case.sizes)
    return Mistake(key, alternatives[0][0], spot)


# ----------------------------------------------------------------------------- running the files

def load(path, exercise: Exercise):
    """The learner's file as a module. It is compiled afresh from its text each time, with no bytecode
    cache beside it, so an edit made within the same second is never graded stale."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file (npgan exercise start {exercise.name} DIR writes one)")
    name = f"npgan_exercise_{exercise.name}"
    spec = importlib.util.spec_from_file_location(name, path, loader=importlib.machinery.SourceFileLoader(name, path))
    module = importlib.util.module_from_spec(spec)  # any file name: the loader is given, not guessed from it
    try:
        with open(path, encoding="utf-8") as f:
            code = compile(f.read(), path, "exec")
        exec(code, module.__dict__)
    except SyntaxError as exc:
        raise ValueError(f"{path} does not load: SyntaxError at line {exc.lineno}: {exc.msg}") from None
    except Exception as exc:  # whatever the file's own top level raises
        raise ValueError(f"{path} does not load: {type(exc).__name__}: {exc}") from None
    for fn in (exercise.forward, exercise.backward):
        if not callable(getattr(module, fn, None)):
            raise ValueError(f"{path} has no function {fn}(): is it the {exercise.name} exercise? "
                             f"(npgan exercise start {exercise.name} DIR writes its skeleton)")
    return module


def _copies(args: dict) -> list:
    return [v.copy() if hasattr(v, "copy") else v for v in args.values()]


def call_forward(exercise, module, case):
    """``(out, cache)`` from the module's forward on copies of the case's arguments."""
    return getattr(module, exercise.forward)(*_copies(case.args))


def call_backward(exercise, module, case, cache) -> tuple:
    """The module's backward on ``cache`` (and a copy of ``dout``), as a tuple of one value per input."""
    backward = getattr(module, exercise.backward)
    got = backward(cache) if exercise.loss else backward(case.dout.copy(), cache)
    n = len(case.wrt)
    if n == 1 and not isinstance(got, (tuple, list)):
        got = (got,)
    if not isinstance(got, (tuple, list)) or len(got) != n:
        what = f"{len(got)} values" if isinstance(got, (tuple, list)) else type(got).__name__
        raise _Fail(f"{exercise.backward}() returned {what}; expected {n}: "
                    + ", ".join("d" + w for w in case.wrt))
    return tuple(got)


@contextlib.contextmanager
def _host():
    """NumPy as the backend for the block: `numerical_gradient` makes its arrays with it."""
    previous = B.backend_name()
    B.set_backend("numpy")
    try:
        yield
    finally:
        B.set_backend(previous)


def numeric(exercise, reference, case) -> dict:
    """Central differences of the worked forward's scalar, for every input the backward differentiates."""
    args = dict(zip(case.args, _copies(case.args)))
    forward = getattr(reference, exercise.forward)

    def f():
        out = forward(*args.values())[0]
        return float(out) if exercise.loss else float((out * case.dout).sum())

    with _host():
        return {name: numerical_gradient(f, args[name], EPS)[0] for name in case.wrt}


# ----------------------------------------------------------------------------- the report

def _hint(trial, name, got) -> list:
    for mistake in trial.exercise.mistakes:
        hint = mistake.spot(trial, name, got)
        if hint:
            return [f"         hint ({mistake.key}): {hint}"]
    return []


def _verdict(trial, name, got):
    """``(relative error or None if wrong, report lines)`` for the learner's gradient of input ``name``."""
    label, want = f"d{name}", trial.want[name]
    try:
        got = B.host.asarray(got, dtype=B.host.float64)
    except (TypeError, ValueError):
        return None, [f"  {label:<6} wrong: not an array of numbers but {type(got).__name__}"]
    if got.shape != want.shape:
        return None, [f"  {label:<6} wrong: shape {got.shape}, expected {name}'s shape {want.shape}"] + _hint(trial, name, got)
    err = compare(label, got, want, want.size).max_rel
    if err < TOL:
        return err, [f"  {label:<6} ok (relative error {err:.1e})"]
    gap = abs(got - want)
    gap[B.host.isnan(gap)] = B.host.inf
    idx = B.host.unravel_index(int(B.host.argmax(gap)), got.shape)
    at = tuple(int(i) for i in idx)
    line = (f"  {label:<6} wrong: relative error {err:.1e}; worst at index {at}: "
            f"expected {want[idx]:.6g}, received {got[idx]:.6g}")
    return None, [line] + _hint(trial, name, got)


def _where(exc, path) -> str:
    """`` (line 12 of FILE)``: the deepest line of the learner's file in the exception's traceback."""
    lines = [fr.lineno for fr in traceback.extract_tb(exc.__traceback__)
             if os.path.abspath(fr.filename) == os.path.abspath(path)]
    return f" (line {lines[-1]} of {path})" if lines else ""


def _grade_case(exercise, module, reference, case, path):
    """``(worst relative error, None)`` if the learner's backward is right on this case, else ``(None, lines)``."""
    ref_out, _ = call_forward(exercise, reference, case)
    fn = exercise.forward
    try:
        out, cache = call_forward(exercise, module, case)
        if B.host.shape(out) != B.host.shape(ref_out) or not B.host.allclose(out, ref_out, rtol=1e-9, atol=1e-12):
            raise _Fail(f"{fn}() was changed: its output is not the given forward's. Grade the given "
                        f"forward (npgan exercise start {exercise.name} DIR --force writes it afresh)")
        fn = exercise.backward
        got = call_backward(exercise, module, case, cache)
    except _Fail:
        raise
    except Exception as exc:
        if isinstance(exc, NotImplementedError) and fn == exercise.backward:
            raise  # the skeleton's: not written yet
        return None, [f"  {fn}() raised {type(exc).__name__}: {exc}{_where(exc, path)}"]
    trial = Trial(exercise, case, numeric(exercise, reference, case))
    verdicts = [_verdict(trial, name, g) for name, g in zip(case.wrt, got)]
    if all(err is not None for err, _ in verdicts):
        return max(err for err, _ in verdicts), None
    return None, [line for _, lines in verdicts for line in lines]


def grade(exercise: Exercise, path) -> tuple:
    """``(exit status, report)``: 0 and a PASS line when the learner's backward in ``path`` gives the
    right gradients in every case, else 1 and what is wrong in the first failing case. A file that
    does not load, or lacks the exercise's functions, raises ValueError or FileNotFoundError."""
    module = load(path, exercise)
    reference = exercise.module()
    rng = B.host.random.default_rng(SEED)
    cases = exercise.cases(rng)
    worst, labels = 0.0, ", ".join("d" + w for w in cases[0].wrt)
    for k, case in enumerate(cases, 1):
        if not exercise.loss:
            case.dout = rng.standard_normal(B.host.shape(call_forward(exercise, reference, case)[0]))
        head = f"{exercise.name}: FAIL in case {k} of {len(cases)}: {case.describe()}"
        try:
            err, lines = _grade_case(exercise, module, reference, case, path)
        except NotImplementedError:
            return 1, (f"{exercise.name}: not written yet: {exercise.backward}() raises NotImplementedError. "
                       f"Write it between the markers, then check again")
        except _Fail as exc:
            return 1, f"{head}\n  {exc}"
        if lines:
            return 1, "\n".join([head] + lines)
        worst = max(worst, err)
    return 0, (f"{exercise.name}: PASS: {labels} match central differences in all {len(cases)} cases "
               f"(largest relative error {worst:.1e})")
