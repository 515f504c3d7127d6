"""Exercises on convolutions: a strided, padded 2-D convolution and its transpose (PyTorch's layouts)."""

from __future__ import annotations

from .exercise import Case, Exercise, solution_source
from .grader import batch_sum, sign, variant

CONV2D_SOURCE = solution_source("conv2d")

_ROW = "hi = i * stride - pad + p"
_COL = "wi = j * stride - pad + q"


def _off_by_one(key: str, word: str):
    """``word`` (``stride`` or ``pad``, the variable) plus or minus one in the index map's row line, column
    line or both: the mistake ``key`` (``stride`` or ``padding``)."""
    alternatives = []
    for delta in ("+", "-"):
        for lines, where in (((_ROW, _COL), "row and column"), ((_ROW,), "row"), ((_COL,), "column")):
            edits = [(line, line.replace(word, f"({word} {delta} 1)")) for line in lines]
            alternatives.append((edits, f"{{tensor}} is the gradient for {word} {delta} 1 in the {where} index: "
                                        f"the {key} is off by one (input row i·stride − pad + p)"))
    return variant(key, alternatives)


def _conv_cases(rng, transposed: bool):
    """Sizes, strides and paddings drawn so that the strides and paddings all show in the gradients."""
    cases = []
    while len(cases) < 3:
        n, c, f = 2, int(rng.integers(1, 3)), int(rng.integers(2, 4))
        k, s, p = int(rng.integers(2, 4)), int(rng.integers(1, 3)), int(rng.integers(0, 2))
        h, w = (int(v) for v in rng.integers(2, 4 if transposed else 7, size=2))
        size = [(h - 1) * s - 2 * p + k, (w - 1) * s - 2 * p + k] if transposed else \
            [(h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1]
        if min(size) < 2:  # a single output row or column would hide the stride
            continue
        weight = rng.standard_normal((c, f, k, k) if transposed else (f, c, k, k))
        cases.append(Case({"x": rng.standard_normal((n, c, h, w)), "w": weight, "b": rng.standard_normal(f),
                           "stride": s, "pad": p}, ("x", "w", "b"), {"N": n}))
    return cases


CONV2D = Exercise(
    "conv2d", "2-D convolution with stride and zero padding: dx, dw, db", CONV2D_SOURCE,
    "conv2d_forward", "conv2d_backward", lambda rng: _conv_cases(rng, transposed=False),
    mistakes=(
        batch_sum(("db = dout.sum(axis=(0, 2, 3))", "db = dout.sum(axis=(2, 3))")),
        _off_by_one("stride", "stride"),
        _off_by_one("padding", "pad"),
        sign(("dx[:, :, hi, wi] += g", "dx[:, :, hi, wi] -= g")),
    ))

CONV_TRANSPOSE2D_SOURCE = solution_source("conv_transpose2d")

CONV_TRANSPOSE2D = Exercise(
    "conv_transpose2d", "transposed 2-D convolution (a generator's upsampling): dx, dw, db", CONV_TRANSPOSE2D_SOURCE,
    "conv_transpose2d_forward", "conv_transpose2d_backward", lambda rng: _conv_cases(rng, transposed=True),
    mistakes=(
        batch_sum(("db = dout.sum(axis=(0, 2, 3))", "db = dout.sum(axis=0)")),
        _off_by_one("stride", "stride"),
        _off_by_one("padding", "pad"),
        sign(("dw[:, :, p, q] += x", "dw[:, :, p, q] -= x")),
    ))
