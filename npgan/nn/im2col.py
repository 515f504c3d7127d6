r"""im2col / col2im: a convolution as one matrix product, and the adjoint that backpropagates it.

A convolution slides a $K \times K$ window over the zero-padded image. `im2col` copies every
window into one row of a matrix, so that the whole convolution becomes a single matrix
product that BLAS (or cuBLAS) runs; `col2im` is its adjoint: it adds every row back onto
the image where its window came from, *summing* where windows overlap. The index
definitions and the proof that `col2im` is the adjoint are in the two functions' docstrings.

**Layout.** Images are NCHW at the API, but these helpers work channels-last, `(N, H, W, C)`:
a window's $C$ values are then contiguous in memory, and a window's row is ordered
$(u, v, c)$: kernel row, kernel column, channel. The weights are permuted to the same order
(`W.transpose(0, 2, 3, 1)`).

**Cropping.** `col2im` can leave out a border as it adds (the padding of a convolution's
input, the cropped margin of a transposed convolution's output): each kernel offset's add is
clipped to the rows and columns inside the crop, so the result is a fresh contiguous array
with no padded intermediate.

How the code runs it: `im2col` copies one strided view of the image (all windows at once,
`npgan.kernels.copy_windows`); `col2im` adds each kernel offset $(u, v)$'s entries onto the
pixels they came from (`npgan.kernels.sum_windows`, which sums the offsets that land on the
same stride phase of the image in a contiguous buffer). The layers hand `col2im` their
products offset by offset (`npgan.kernels.matmul_by_offset`), so that each offset's entries
are contiguous in memory. Both kernels split the batch between threads; the index formulas
below are their plain reference.
"""

from __future__ import annotations

import numbers

from .. import backend as B
from .. import kernels as K


def integer(v, name: str) -> int:
    """`v` as an int; a clear error for 2.5, "3" or True instead of silently truncating."""
    whole = isinstance(v, numbers.Integral) or (isinstance(v, numbers.Real) and float(v).is_integer())
    if isinstance(v, bool) or not whole:
        raise ValueError(f"{name} must be an integer, got {v!r}")
    return int(v)


def pair(v, name: str):
    """An int or a pair of ints as a pair; used for `kernel_size`, `stride`, `padding`."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}")
        return integer(v[0], name), integer(v[1], name)
    return integer(v, name), integer(v, name)


def conv_output_size(size: int, k: int, s: int, p: int) -> int:
    r"""Output length of a convolution: $\lfloor (\text{size} + 2p - K)/s \rfloor + 1$ (here `k` is $K$).

    Window $h$ covers the padded positions $hs, \dots, hs + K - 1$, and it must fit in the
    $\text{size} + 2p$ padded positions: $hs + K \le \text{size} + 2p$, i.e.
    $h \le (\text{size} + 2p - K)/s$. The windows are $h = 0, 1, \dots$ up to that bound.
    """
    return (size + 2 * p - k) // s + 1


def pad_nhwc(x_nchw, ph: int, pw: int):
    """Zero-pad an (N, C, H, W) array into a fresh (N, H + 2ph, W + 2pw, C) channels-last array
    (`npgan.kernels.pad_channels_last`)."""
    return K.pad_channels_last(x_nchw, ph, pw)


def im2col(x_nhwc, kh: int, kw: int, sh: int, sw: int, ho: int, wo: int):
    r"""Gather the windows of a padded `(N, Hp, Wp, C)` image into an `(N*Ho*Wo, kh*kw*C)` matrix.

    One row per output position $(n, h, w)$, one column per window entry $(u, v, c)$ in that
    order. With stride $s$ (`sh`, `sw`) and $x^{\text{pad}}$ the channels-last image that
    `pad_nhwc` padded by $p$ on each side, row $(n, h, w)$ is the window whose top-left
    padded pixel is $(hs, ws)$:

    $$
    \operatorname{cols}_{(n,h,w),\,(u,v,c)} = x^{\text{pad}}_{n,\, hs+u,\, ws+v,\, c}
        = x_{n,\, c,\, hs+u-p,\, ws+v-p},
    $$

    where the right-hand side is the unpadded NCHW image, read as $0$ outside it. `kh`, `kw`
    and `sh`, `sw` are the kernel size $K$ and the stride $s$ along each axis; `ho`, `wo` the
    number of windows along each (`conv_output_size`).

    Every entry of `cols` is a copy of one entry of $x$ (or a zero of the padding), so
    `im2col` is a linear map $x \mapsto A x$ with a 0/1 matrix $A$, one 1 at most in each
    row; its adjoint $A^\top$ is `col2im`.
    """
    xp = B.get_backend()
    n, _, _, c = x_nhwc.shape
    s_n, s_h, s_w, s_c = x_nhwc.strides
    windows = xp.lib.stride_tricks.as_strided(
        x_nhwc, shape=(n, ho, wo, kh, kw, c), strides=(s_n, sh * s_h, sw * s_w, s_h, s_w, s_c))
    return K.copy_windows(windows).reshape(n * ho * wo, kh * kw * c)


def _clip(offset: int, stride: int, count: int, lo: int, hi: int):
    """Window indices a in [0, count) whose pixel offset + stride*a lies in [lo, hi):
    (first a, last a + 1, that first pixel - lo); the range is empty when first >= last."""
    first = max(0, -(-(lo - offset) // stride))
    last = min(count, -(-(hi - offset) // stride))
    return first, last, offset + stride * first - lo


def window_offsets(kh: int, kw: int, sh: int, sw: int, ho: int, wo: int, crop) -> list:
    """Where each kernel offset's windows land in a cropped image: `(rows, columns, a, b, i, j)`
    for each offset (i, j) that reaches the crop `(top, left, height, width)`, with `rows`
    and `columns` (in crop coordinates, stepping by the stride) the pixels that windows `a`
    (rows) and `b` (columns) add their entry (i, j) to."""
    top, left, height, width = crop
    offsets = []
    for i in range(kh):
        a0, a1, r0 = _clip(i, sh, ho, top, top + height)
        for j in range(kw):
            b0, b1, c0 = _clip(j, sw, wo, left, left + width)
            if a0 < a1 and b0 < b1:
                offsets.append((slice(r0, r0 + sh * (a1 - a0 - 1) + 1, sh),
                                slice(c0, c0 + sw * (b1 - b0 - 1) + 1, sw), slice(a0, a1), slice(b0, b1), i, j))
    return offsets


def col2im(cols, n: int, hp: int, wp: int, c: int, kh: int, kw: int,
           sh: int, sw: int, ho: int, wo: int, crop=(0, 0, None, None)):
    r"""Adjoint of `im2col`: scatter-add `(N*Ho*Wo, kh*kw*C)` rows onto an `(N, Hp, Wp, C)` image.

    **Definition.** Every window entry is added back onto the pixel it was copied from. For
    an input position $h'$, the windows that read it are

    $$
    S(h') = \{\, (h, u) : 0 \le h < H_\text{out},\ 0 \le u < K,\ hs + u - p = h' \,\}
    $$

    ($H_\text{out}$ = `ho`), and likewise $S(w')$ for columns with `wo`. Then, for a matrix
    $\Phi$ of `cols`' shape,

    $$
    \operatorname{col2im}(\Phi)_{n,c,h',w'} = \sum_{(h,u) \in S(h')} \; \sum_{(w,v) \in S(w')}
        \Phi_{(n,h,w),\,(u,v,c)} .
    $$

    **Why it is the adjoint of `im2col`.** `im2col` is $x \mapsto A x$ with
    $(A x)_{(n,h,w),(u,v,c)} = x_{n,c,hs+u-p,ws+v-p}$. Its inner product with any $\Phi$ is
    a sum over all window entries; group its terms by the input entry $(n, c, h', w')$ that
    each one reads (entries that read the zero padding contribute nothing):

    $$
    \begin{aligned}
    \langle A x, \Phi \rangle
      &= \sum_{n,h,w} \sum_{u,v,c} x_{n,c,hs+u-p,ws+v-p}\, \Phi_{(n,h,w),(u,v,c)} \\
      &= \sum_{n,c,h',w'} x_{n,c,h',w'} \sum_{(h,u) \in S(h')} \; \sum_{(w,v) \in S(w')}
         \Phi_{(n,h,w),(u,v,c)}
       = \langle x, \operatorname{col2im}(\Phi) \rangle .
    \end{aligned}
    $$

    This holds for every $x$ and $\Phi$, so $\operatorname{col2im} = A^\top$. In a backward
    pass: if $\operatorname{cols} = A x$, the chain rule gives
    $\bar x_k = \sum_r \overline{\operatorname{cols}}_r A_{rk} = (A^\top \overline{\operatorname{cols}})_k$,
    so $\bar x = \operatorname{col2im}(\overline{\operatorname{cols}})$: a copy's gradient is
    summed back onto its source, over every copy.

    **Arguments.** `cols` is $\Phi$, `(N*Ho*Wo, kh*kw*C)` or `(N*Ho*Wo, kh*kw, C)` (the latter
    in any memory layout, such as `npgan.kernels.matmul_by_offset`'s offset-major one). `hp`,
    `wp` are the padded image's size; `kh`, `kw`, `sh`, `sw`, `ho`, `wo` as for `im2col`.
    `crop = (top, left, height, width)` returns only that part of the image,
    `(N, height, width, C)`, computed directly (nothing outside it is added up): with
    `crop = (p, p, H, W)` it is exactly the sum above over the unpadded positions.
    """
    top, left, height, width = crop
    height = hp - top if height is None else height
    width = wp - left if width is None else width
    cols = cols.reshape(n, ho, wo, kh, kw, c)
    offsets = window_offsets(kh, kw, sh, sw, ho, wo, (top, left, height, width))
    return K.sum_windows(cols, offsets, (n, height, width, c))
