"""Exercises on convolutions: a strided, padded 2-D convolution and its transpose (PyTorch's layouts)."""

from __future__ import annotations

from .exercise import Case, Exercise
from .grader import batch_sum, sign, variant

CONV2D_SOURCE = '''"""Exercise conv2d: the backward pass of a 2-D convolution with stride and zero padding.

Forward (given): the cross-correlation of PyTorch's Conv2d. With the input padded by `pad` zeros
on every side, output pixel (i, j) is the window of the padded input starting at
(i·stride, j·stride), weighted by each filter:

    out[n, f, i, j] = b[f] + Σ_{c, p, q} w[f, c, p, q] · x[n, c, i·stride − pad + p, j·stride − pad + q]

(terms whose input row or column falls outside x are the padding's zeros).

    x    (N, C, H, W)     N images of C channels
    w    (F, C, kh, kw)   F filters
    b    (F,)
    out  (N, F, Ho, Wo)   Ho = (H + 2 pad − kh) // stride + 1, Wo likewise

Backward (yours): given dout = ∂L/∂out (N, F, Ho, Wo), return dx (N, C, H, W), dw (F, C, kh, kw)
and db (F,). Each term of the sum above links one input pixel to one output pixel through one
weight: walk over the terms (i, j, p, q), find the input pixel with the formula above, and add
each term's share to dx and dw; skip the terms that fall in the padding.

Write conv2d_backward between the markers, then grade it (from this file's folder):

    npgan exercise check conv2d conv2d.py
"""

import numpy as np


def conv2d_forward(x, w, b, stride=1, pad=0):
    """out = conv2d(x, w) + b; returns (out, cache)."""
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    Ho = (H + 2 * pad - kh) // stride + 1
    Wo = (W + 2 * pad - kw) // stride + 1
    xpad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.empty((N, F, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            window = xpad[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]      # (N, C, kh, kw)
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b     # (N, F)
    cache = (x, w, stride, pad)
    return out, cache


def conv2d_backward(dout, cache):
    """Given dout (N, F, Ho, Wo) and the forward's cache, return (dx, dw, db)."""
    x, w, stride, pad = cache
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    _, _, Ho, Wo = dout.shape
    # --- your code: compute and return dx, dw and db ---
    dx = np.zeros_like(x)
    dw = np.zeros_like(w)
    for i in range(Ho):
        for j in range(Wo):
            for p in range(kh):
                for q in range(kw):
                    hi = i * stride - pad + p       # the input row that kernel row p meets at output row i
                    wi = j * stride - pad + q       # the input column, likewise
                    if 0 <= hi < H and 0 <= wi < W:     # outside x: the padding, which has no gradient
                        g = dout[:, :, i, j]                        # (N, F)
                        dx[:, :, hi, wi] += g @ w[:, :, p, q]       # (N, F) (F, C)
                        dw[:, :, p, q] += g.T @ x[:, :, hi, wi]     # (F, N) (N, C)
    db = dout.sum(axis=(0, 2, 3))     # b[f] is added at every pixel of every image
    return dx, dw, db
    # --- end of your code ---
'''

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

CONV_TRANSPOSE2D_SOURCE = '''"""Exercise conv_transpose2d: the backward pass of a transposed 2-D convolution.

Forward (given): PyTorch's ConvTranspose2d, the map whose matrix is the transpose of a
convolution's (a convolution's input gradient, used to upsample in a DCGAN generator). Each input
pixel (i, j) scatters x[n, :, i, j] · w into a kh × kw patch of the output starting at
(i·stride − pad, j·stride − pad); `pad` rows and columns are cropped from each side:

    out[n, f, i·stride − pad + p, j·stride − pad + q] += Σ_c x[n, c, i, j] · w[c, f, p, q]   (then + b[f])

for every (i, j, p, q) whose output row and column fall inside out.

    x    (N, C, H, W)     N images of C channels
    w    (C, F, kh, kw)   note the layout: input channels first
    b    (F,)
    out  (N, F, Ho, Wo)   Ho = (H − 1) stride − 2 pad + kh, Wo likewise

Backward (yours): given dout = ∂L/∂out (N, F, Ho, Wo), return dx (N, C, H, W), dw (C, F, kh, kw)
and db (F,). Walk over the same terms (i, j, p, q) as the forward, and add each term's share to dx
and dw; skip the terms that the padding crops.

Write conv_transpose2d_backward between the markers, then grade it (from this file's folder):

    npgan exercise check conv_transpose2d conv_transpose2d.py
"""

import numpy as np


def conv_transpose2d_forward(x, w, b, stride=1, pad=0):
    """out = conv_transpose2d(x, w) + b; returns (out, cache)."""
    N, C, H, W = x.shape
    _, F, kh, kw = w.shape
    Ho = (H - 1) * stride - 2 * pad + kh
    Wo = (W - 1) * stride - 2 * pad + kw
    full = np.zeros((N, F, (H - 1) * stride + kh, (W - 1) * stride + kw))     # before cropping the padding
    for i in range(H):
        for j in range(W):
            patch = np.tensordot(x[:, :, i, j], w, axes=(1, 0))                # (N, F, kh, kw)
            full[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw] += patch
    out = full[:, :, pad:pad + Ho, pad:pad + Wo] + b[:, None, None]
    cache = (x, w, stride, pad)
    return out, cache


def conv_transpose2d_backward(dout, cache):
    """Given dout (N, F, Ho, Wo) and the forward's cache, return (dx, dw, db)."""
    x, w, stride, pad = cache
    N, C, H, W = x.shape
    _, F, kh, kw = w.shape
    _, _, Ho, Wo = dout.shape
    # --- your code: compute and return dx, dw and db ---
    dx = np.zeros_like(x)
    dw = np.zeros_like(w)
    for i in range(H):
        for j in range(W):
            for p in range(kh):
                for q in range(kw):
                    hi = i * stride - pad + p       # the output row that input row i reaches through kernel row p
                    wi = j * stride - pad + q       # the output column, likewise
                    if 0 <= hi < Ho and 0 <= wi < Wo:   # outside out: cropped by the padding, no gradient
                        g = dout[:, :, hi, wi]                      # (N, F)
                        dx[:, :, i, j] += g @ w[:, :, p, q].T       # (N, F) (F, C)
                        dw[:, :, p, q] += x[:, :, i, j].T @ g       # (C, N) (N, F)
    db = dout.sum(axis=(0, 2, 3))     # b[f] is added at every pixel of every image
    return dx, dw, db
    # --- end of your code ---
'''

CONV_TRANSPOSE2D = Exercise(
    "conv_transpose2d", "transposed 2-D convolution (a generator's upsampling): dx, dw, db", CONV_TRANSPOSE2D_SOURCE,
    "conv_transpose2d_forward", "conv_transpose2d_backward", lambda rng: _conv_cases(rng, transposed=True),
    mistakes=(
        batch_sum(("db = dout.sum(axis=(0, 2, 3))", "db = dout.sum(axis=0)")),
        _off_by_one("stride", "stride"),
        _off_by_one("padding", "pad"),
        sign(("dw[:, :, p, q] += x", "dw[:, :, p, q] -= x")),
    ))
