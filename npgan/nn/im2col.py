"""im2col / col2im: turning a convolution into one matrix product.

A convolution slides a kh x kw window over the (padded) image. ``im2col``
copies every window into one row of a matrix, so that the whole convolution
becomes a single ``cols @ W`` that BLAS (or cuBLAS) runs at full speed;
``col2im`` is its adjoint: it scatters rows back onto the image, *summing*
where windows overlap.

Layout. Images are NCHW at the API, but the helpers work channels-last
(N, H, W, C): a window's C values are then contiguous in memory, so each
copy moves long runs of bytes, and the column order is (kh, kw, C). The
weights are permuted to match (``W.transpose(0, 2, 3, 1)``); the gather is
then several times cheaper than (C, kh, kw)-ordered columns built from NCHW
(benchmarks/RESULTS.md).

Vectorisation. ``im2col`` makes no loop at all: the windows are one strided
*view* of the image, shaped (N, Ho, Wo, kh, kw, C) with strides
(sN, s*sH, s*sW, sH, sW, sC), where (sN, sH, sW, sC) are the image's strides,
and a single reshape copies it into the column matrix. In that view the
(kw, C) axes of a window row are contiguous in memory, so the copy moves runs
of kw*C values, not the runs of C that one copy per kernel offset would move. ``col2im`` cannot be a view (windows overlap, and the
overlapping values must be *summed*), so it loops over the kh*kw kernel
offsets: for offset (i, j) the pixels at that position of every window are one
strided view ``out[:, i : i + s*(Ho-1)+1 : s, j : j + s*(Wo-1)+1 : s, :]``,
and each iteration is one in-place add over the whole batch. No ``add.at``
(slow and serialising), no loop over batch, pixels or channels.

Threads. NumPy's elementwise work runs on one core while its matrix products
use all of them; both helpers hand contiguous slices of the batch to
``backend.parallel_for`` (one slice per thread, the same vectorised code in
each), so the gather and the scatter-add use the cores BLAS uses.

Cropping. ``col2im`` can leave out a border (the padding of a convolution's
input, the cropped margin of a transposed convolution's output) as it adds:
each offset's add is clipped to the rows and columns inside the crop, so the
result is a fresh contiguous (N, H, W, C) array, with no padded intermediate
and no copy to crop it.
"""

from __future__ import annotations

from .. import backend as B


def integer(v, name: str) -> int:
    """``v`` as an int; a clear error for 2.5, "3" or True instead of silently truncating."""
    import numbers
    whole = isinstance(v, numbers.Integral) or (isinstance(v, numbers.Real) and float(v).is_integer())
    if isinstance(v, bool) or not whole:
        raise ValueError(f"{name} must be an integer, got {v!r}")
    return int(v)


def pair(v, name: str):
    """An int or a pair of ints as a pair; used for kernel_size, stride, padding."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}")
        return integer(v[0], name), integer(v[1], name)
    return integer(v, name), integer(v, name)


def conv_output_size(size: int, k: int, s: int, p: int) -> int:
    """Output length of a convolution: floor((size + 2p - k) / s) + 1."""
    return (size + 2 * p - k) // s + 1


def pad_nhwc(x_nchw, ph: int, pw: int):
    """Zero-pad an (N, C, H, W) array into a fresh (N, H + 2ph, W + 2pw, C) channels-last array."""
    xp = B.get_backend()
    n, c, h, w = x_nchw.shape
    out = xp.empty((n, h + 2 * ph, w + 2 * pw, c), dtype=x_nchw.dtype)
    out[:, ph:ph + h, pw:pw + w, :] = x_nchw.transpose(0, 2, 3, 1)
    if ph or pw:  # zero only the border, not the whole array first
        out[:, :ph], out[:, ph + h:] = 0, 0
        out[:, ph:ph + h, :pw], out[:, ph:ph + h, pw + w:] = 0, 0
    return out


def im2col(x_nhwc, kh: int, kw: int, sh: int, sw: int, ho: int, wo: int):
    """Gather the windows of a padded (N, Hp, Wp, C) image into (N*Ho*Wo, kh*kw*C).

    Row ``(n, oh, ow)`` holds the window whose top-left pixel is
    ``(oh*sh, ow*sw)``, flattened in (kh, kw, C) order.
    """
    xp = B.get_backend()
    n, _, _, c = x_nhwc.shape
    s_n, s_h, s_w, s_c = x_nhwc.strides
    windows = xp.lib.stride_tricks.as_strided(
        x_nhwc, shape=(n, ho, wo, kh, kw, c), strides=(s_n, sh * s_h, sw * s_w, s_h, s_w, s_c))
    cols = xp.empty((n, ho, wo, kh, kw, c), dtype=x_nhwc.dtype)

    def gather(lo, hi):  # the one copy, split over the batch between threads
        cols[lo:hi] = windows[lo:hi]

    B.parallel_for(gather, n, work=cols.size)
    return cols.reshape(n * ho * wo, kh * kw * c)


def _clip(offset: int, stride: int, count: int, lo: int, hi: int):
    """Window indices a in [0, count) whose pixel offset + stride*a lies in [lo, hi):
    (first a, last a + 1, that first pixel - lo); the range is empty when first >= last."""
    first = max(0, -(-(lo - offset) // stride))
    last = min(count, -(-(hi - offset) // stride))
    return first, last, offset + stride * first - lo


def col2im(cols, n: int, hp: int, wp: int, c: int, kh: int, kw: int,
           sh: int, sw: int, ho: int, wo: int, crop=(0, 0, None, None)):
    """Adjoint of ``im2col``: scatter-add (N*Ho*Wo, kh*kw*C) rows onto an (N, Hp, Wp, C) image.

    ``crop = (top, left, height, width)`` returns only that part of the image,
    (N, height, width, C), computed directly (nothing outside it is added up).
    """
    xp = B.get_backend()
    top, left, height, width = crop
    height = hp - top if height is None else height
    width = wp - left if width is None else width
    cols = cols.reshape(n, ho, wo, kh, kw, c)
    out = xp.zeros((n, height, width, c), dtype=cols.dtype)
    adds = []  # (rows, columns, window rows, window columns, i, j) of each kernel offset
    for i in range(kh):
        a0, a1, r0 = _clip(i, sh, ho, top, top + height)
        for j in range(kw):
            b0, b1, c0 = _clip(j, sw, wo, left, left + width)
            if a0 < a1 and b0 < b1:
                adds.append((slice(r0, r0 + sh * (a1 - a0 - 1) + 1, sh),
                             slice(c0, c0 + sw * (b1 - b0 - 1) + 1, sw), slice(a0, a1), slice(b0, b1), i, j))

    def scatter(lo, hi):  # samples lo..hi-1; threads take disjoint parts of the batch
        for rows, columns, a, b, i, j in adds:
            out[lo:hi, rows, columns, :] += cols[lo:hi, a, b, i, j, :]

    B.parallel_for(scatter, n, work=cols.size)
    return out
