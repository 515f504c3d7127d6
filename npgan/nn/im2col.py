"""im2col / col2im: turning a convolution into one matrix product.

A convolution slides a kh x kw window over the (padded) image. ``im2col``
copies every window into one row of a matrix, so that the whole convolution
becomes a single ``cols @ W`` that BLAS (or cuBLAS) runs at full speed;
``col2im`` is its adjoint: it scatters rows back onto the image, *summing*
where windows overlap.

Layout. Images are NCHW at the API, but the helpers work channels-last
(N, H, W, C): a window's C values are then contiguous in memory, so each
copy moves long runs of bytes, and the column order is (kh, kw, C). The
weights are permuted to match (``W.transpose(0, 2, 3, 1)``). Measured on a
2-core CPU this gather is about 3x cheaper than (C, kh, kw)-ordered columns
built from NCHW.

Vectorisation. Both helpers loop over the kh*kw kernel offsets only. For
offset (i, j) the pixels that land at that position of every window are one
strided view ``x[:, i : i + s*(Ho-1)+1 : s, j : j + s*(Wo-1)+1 : s, :]`` of
the image, so each iteration is one array copy (im2col) or one in-place add
(col2im) over the whole batch. No ``add.at`` (slow and serialising), no loop
over batch, pixels or channels.
"""

from __future__ import annotations

from .. import backend as B


def pair(v, name: str):
    """An int or a pair of ints as a pair; used for kernel_size, stride, padding."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def conv_output_size(size: int, k: int, s: int, p: int) -> int:
    """Output length of a convolution: floor((size + 2p - k) / s) + 1."""
    return (size + 2 * p - k) // s + 1


def pad_nhwc(x_nchw, ph: int, pw: int):
    """Zero-pad an (N, C, H, W) array into a fresh (N, H + 2ph, W + 2pw, C) channels-last array."""
    xp = B.get_backend()
    n, c, h, w = x_nchw.shape
    out = xp.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=x_nchw.dtype)
    out[:, ph:ph + h, pw:pw + w, :] = x_nchw.transpose(0, 2, 3, 1)
    return out


def im2col(x_nhwc, kh: int, kw: int, sh: int, sw: int, ho: int, wo: int):
    """Gather the windows of a padded (N, Hp, Wp, C) image into (N*Ho*Wo, kh*kw*C).

    Row ``(n, oh, ow)`` holds the window whose top-left pixel is
    ``(oh*sh, ow*sw)``, flattened in (kh, kw, C) order.
    """
    xp = B.get_backend()
    n, _, _, c = x_nhwc.shape
    cols = xp.empty((n, ho, wo, kh, kw, c), dtype=x_nhwc.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, :, i, j, :] = x_nhwc[:, i:i + sh * (ho - 1) + 1:sh,
                                            j:j + sw * (wo - 1) + 1:sw, :]
    return cols.reshape(n * ho * wo, kh * kw * c)


def col2im(cols, n: int, hp: int, wp: int, c: int, kh: int, kw: int,
           sh: int, sw: int, ho: int, wo: int):
    """Adjoint of ``im2col``: scatter-add (N*Ho*Wo, kh*kw*C) rows onto an (N, Hp, Wp, C) image."""
    xp = B.get_backend()
    cols = cols.reshape(n, ho, wo, kh, kw, c)
    out = xp.zeros((n, hp, wp, c), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw, :] += cols[:, :, :, i, j, :]
    return out
