r"""Kernels: the speed tricks behind the layers and the optimiser, each beside its plain reference.

A layer's `forward` and `backward` read like the formulas in its docstring. Where speed needs
more than the formula written as array expressions, the layer calls a kernel from this module
instead, and the kernel is the only place that knows the trick:

* **threads**: NumPy runs an elementwise operation on one core. A kernel splits a
  batch-sized pass into one contiguous slice of the batch per thread
  (`npgan.runtime.parallel_for`), each slice running the same vectorised code; on CuPy
  the device is already parallel and the pass runs as one call;
* **layouts**: a convolution's output is an NCHW view of channels-last memory. BatchNorm's
  kernels keep whichever layout x has and walk its memory as `(N, C*L)` rows (`L = H*W`),
  with each per-channel vector laid out like one row, rather than copying x into NCHW;
* **fused blocks**: Adam updates each parameter block by block, every operation of the
  update running on a block while it sits in the CPU's cache.

Every kernel `name` has a reference, `name_reference`: the formula, written the plain way
(broadcasting, no threads, no layouts, no blocks). `tests/test_kernels.py` compares each kernel
with its reference on every backend, over drawn shapes, layouts and dtypes, with the threads
forced on; `REFERENCES` maps each kernel to its reference.

Shapes: the channel kernels take x of shape `(N, C)` or `(N, C, H, W)` (any memory layout)
and per-channel vectors of shape `(C,)`; their outputs are shaped like x.
"""

from __future__ import annotations

import functools

from . import backend as B
from . import runtime

REFERENCES = {}  # kernel -> its plain reference (the tests walk it)

# elementwise passes are split between threads from this many elements (2 MB of float32):
# below it a thread hand-off costs more than it saves
_split = {"min_work": 1 << 19}


def elementwise_min_work() -> int:
    """Elements from which an elementwise pass is split between threads."""
    return _split["min_work"]


def set_elementwise_min_work(n: int) -> None:
    """Set `elementwise_min_work` (tests set 0 so tiny shapes take the threaded path)."""
    _split["min_work"] = int(n)


def _reference_of(kernel):
    """Register the decorated function as `kernel`'s plain reference."""
    def register(reference):
        REFERENCES[kernel] = reference
        return reference
    return register


def _threads():
    """npgan's own threads split host passes only: CuPy's device is already parallel."""
    return None if B.backend_name() == "numpy" else 1


def _over_batch(fn, x, min_work=None) -> list:
    """`[fn(lo, hi), ...]` over slices x[lo:hi] of the batch, split between threads when x is
    big enough for that to pay."""
    return runtime.parallel_map(fn, x.shape[0], x.size,
                                min_work=elementwise_min_work() if min_work is None else min_work,
                                threads=_threads())


# -- activations ----------------------------------------------------------------------------------
def _masked(x, fill):
    """(y, [x > 0]): y from `fill(x_slice, y_slice)` slice by slice of the batch; y and the
    mask in x's memory layout (channels-last after a convolution), so no pass copies x."""
    xp = B.get_backend()
    mask, y = xp.empty_like(x, dtype=bool), xp.empty_like(x)

    def run(lo, hi):
        xp.greater(x[lo:hi], 0, out=mask[lo:hi])
        fill(x[lo:hi], y[lo:hi])

    _over_batch(run, x)
    return y, mask


def relu(x):
    """(max(x, 0), [x > 0]), in x's memory layout.

    The maximum is taken against one sample of zeros, laid out like x's samples and
    broadcast over the batch: NumPy's maximum against a scalar runs a loop several times
    slower than its loop over two arrays."""
    xp = B.get_backend()
    zero = xp.zeros_like(x[:1])  # zeros_like keeps x's memory layout
    return _masked(x, lambda xs, ys: xp.maximum(xs, zero, out=ys))


@_reference_of(relu)
def relu_reference(x):
    xp = B.get_backend()
    return xp.maximum(x, 0), x > 0


def relu_grad(dy, mask):
    """[x > 0] ⊙ dy, in the mask's memory layout."""
    xp = B.get_backend()
    dx = xp.empty_like(mask, dtype=dy.dtype)

    def run(lo, hi):
        xp.multiply(dy[lo:hi], mask[lo:hi], out=dx[lo:hi])

    _over_batch(run, dy)
    return dx


@_reference_of(relu_grad)
def relu_grad_reference(dy, mask):
    return dy * mask


def leaky_relu(x, a: float):
    """(f(x), [x > 0]) with f(x) = x for x > 0 and a·x otherwise, in x's memory layout.

    Computed as max(x, a·x) for a ≤ 1 and min(x, a·x) for a > 1, into y with no temporary."""
    xp = B.get_backend()
    pick = xp.maximum if a <= 1.0 else xp.minimum  # a > 1: a*x is the larger for x > 0

    def fill(xs, ys):
        xp.multiply(xs, a, out=ys)
        pick(xs, ys, out=ys)

    return _masked(x, fill)


@_reference_of(leaky_relu)
def leaky_relu_reference(x, a: float):
    xp = B.get_backend()
    return xp.where(x > 0, x, a * x), x > 0


def leaky_relu_grad(dy, mask, a: float):
    """(a + (1 − a)[x > 0]) ⊙ dy, the slope array built in place in the mask's layout."""
    xp = B.get_backend()
    dx = xp.empty_like(mask, dtype=dy.dtype)
    one_minus_a = dx.dtype.type(1.0 - a)  # a scalar of dy's dtype: no float64 detour

    def run(lo, hi):
        d = dx[lo:hi]
        xp.multiply(mask[lo:hi], one_minus_a, out=d)
        d += a
        d *= dy[lo:hi]

    _over_batch(run, dy)
    return dx


@_reference_of(leaky_relu_grad)
def leaky_relu_grad_reference(dy, mask, a: float):
    xp = B.get_backend()
    return xp.where(mask, dy, a * dy)


# -- per-channel passes (BatchNorm) -----------------------------------------------------------------
def _channels_last(x) -> bool:
    """Is x an NCHW view of channels-last memory (a convolution's output)?"""
    return x.ndim == 4 and not x.flags.c_contiguous and x.transpose(0, 2, 3, 1).flags.c_contiguous


def _rows(a, channels_last: bool):
    """(a3, rows, spec): `a` as a 3-D array for the per-channel sums, (N, C, L) or, channels-last,
    (N, L, C); the same memory as (N, C*L) rows for the elementwise passes; and the einsum
    names of a3's axes. Views of `a` when it is in that layout, else one copy into it."""
    n, c = a.shape[0], a.shape[1]
    if channels_last:
        rows = a.transpose(0, 2, 3, 1).reshape(n, -1)
        return rows.reshape(n, -1, c), rows, "nlc"
    rows = B.get_backend().ascontiguousarray(a).reshape(n, -1)
    return rows.reshape(n, c, -1), rows, "ncl"


def _unrows(rows, shape, channels_last: bool):
    """(N, C*L) rows back to `shape` (NCHW), as a view of the same memory."""
    if channels_last:
        n, c, h, w = shape
        return rows.reshape(n, h, w, c).transpose(0, 3, 1, 2)
    return rows.reshape(shape)


def _row(v, rows, channels_last: bool):
    """A per-channel (C,) vector laid out like one of `rows`' (C*L,) rows, so that each
    elementwise pass runs over long contiguous rows instead of broadcasting a (C, 1) column."""
    xp = B.get_backend()
    k = rows.shape[1] // v.shape[0]
    return xp.tile(v, k) if channels_last else xp.repeat(v, k)


def _summed(parts):
    """Add up the per-slice partial results of `_over_batch` (tuples added entry by entry)."""
    if isinstance(parts[0], tuple):
        return tuple(sum(p[k] for p in parts) for k in range(len(parts[0])))
    return sum(parts)


def _per_channel(v, ndim: int):
    """A (C,) vector shaped to broadcast against an (N, C) or (N, C, H, W) array."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def _channel_axes(x) -> tuple:
    return (0,) + tuple(range(2, x.ndim))


def channel_sum(x):
    """Σ x per channel, over the batch and positions: a (C,) vector.

    Computed as matrix-vector products with a vector of ones, which BLAS runs several times
    faster than NumPy's reduction over the batch axis: `1ᵀ X` over the `(N*L, C)` rows of a
    channels-last x, `X 1` over the `(N*C, L)` rows of an NCHW one."""
    xp = B.get_backend()
    n, c = x.shape[0], x.shape[1]
    if x.ndim == 2:
        return xp.ones(n, dtype=x.dtype) @ x
    x3, _, spec = _rows(x, _channels_last(x))
    if spec == "nlc":
        rows = x3.reshape(-1, c)
        return xp.ones(rows.shape[0], dtype=x.dtype) @ rows
    rows = x3.reshape(n * c, -1)
    return (rows @ xp.ones(rows.shape[1], dtype=x.dtype)).reshape(n, c).sum(axis=0)


@_reference_of(channel_sum)
def channel_sum_reference(x):
    return x.sum(axis=_channel_axes(x))


def channel_centre(x, mean):
    """(x − μ, Σ (x − μ)² per channel): x centred, in x's memory layout (what BatchNorm keeps
    for its backward pass), and its per-channel sum of squares, in one pass."""
    xp = B.get_backend()
    last = _channels_last(x)
    x3, x2, spec = _rows(x, last)
    mean_row = _row(mean, x2, last)
    centred = xp.empty_like(x2)
    centred3 = centred.reshape(x3.shape)

    def centre(lo, hi):
        xp.subtract(x2[lo:hi], mean_row, out=centred[lo:hi])
        return xp.einsum(f"{spec},{spec}->c", centred3[lo:hi], centred3[lo:hi])

    sum_sq = _summed(_over_batch(centre, x))
    return _unrows(centred, x.shape, last), sum_sq


@_reference_of(channel_centre)
def channel_centre_reference(x, mean):
    centred = x - _per_channel(mean, x.ndim)
    return centred, (centred * centred).sum(axis=_channel_axes(x))


def batch_norm_affine(x, mean, scale, beta, centred=None):
    """(x − μ, y) with y = scale ⊙ (x − μ) + β per channel, in x's memory layout. With
    scale = γ r this is y = γ x̂ + β, x̂ = (x − μ) r, without writing x̂ out: two passes when
    `centred` (x − μ, from `channel_centre`) is given, and then it is returned as it is;
    three without."""
    xp = B.get_backend()
    last = _channels_last(x)
    _, x2, _ = _rows(x, last)
    if centred is None:
        c2, mean_row = xp.empty_like(x2), _row(mean, x2, last)
    else:
        _, c2, _ = _rows(centred, last)
    scale_row, beta_row = _row(scale, x2, last), _row(beta, x2, last)
    y = xp.empty_like(x2)

    def normalise(lo, hi):
        d, out = c2[lo:hi], y[lo:hi]
        if centred is None:
            xp.subtract(x2[lo:hi], mean_row, out=d)
        xp.multiply(d, scale_row, out=out)
        out += beta_row

    _over_batch(normalise, x)
    return (_unrows(c2, x.shape, last) if centred is None else centred), _unrows(y, x.shape, last)


@_reference_of(batch_norm_affine)
def batch_norm_affine_reference(x, mean, scale, beta, centred=None):
    c = lambda v: _per_channel(v, x.ndim)  # noqa: E731
    centred = x - c(mean)
    return centred, c(scale) * centred + c(beta)


def channel_sums(dy, z):
    """(Σ dy ⊙ z, Σ dy) per channel, over the batch and positions; in z's memory layout
    (Σ dy is `channel_sum`)."""
    xp = B.get_backend()
    last = _channels_last(z)
    g3, _, spec = _rows(dy, last)
    z3, _, _ = _rows(z, last)
    return _summed(_over_batch(lambda lo, hi: xp.einsum(f"{spec},{spec}->c", g3[lo:hi], z3[lo:hi]), dy)), \
        channel_sum(dy)


@_reference_of(channel_sums)
def channel_sums_reference(dy, z):
    axes = _channel_axes(dy)
    return (dy * z).sum(axis=axes), dy.sum(axis=axes)


def batch_norm_input_grad(dy, centred, scale, mean_dy, slope):
    """scale ⊙ (dy − mean(dy) − (x − μ) ⊙ slope) per channel, the per-channel vectors given, in
    the memory layout of `centred` (x − μ). With scale = γ r and slope = r mean(dy ⊙ x̂) this
    is BatchNorm's γ r (dy − mean(dy) − x̂ mean(dy ⊙ x̂)), since x̂ = (x − μ) r."""
    xp = B.get_backend()
    last = _channels_last(centred)
    _, g2, _ = _rows(dy, last)
    _, c2, _ = _rows(centred, last)
    scale_row, mean_row, slope_row = (_row(v, c2, last) for v in (scale, mean_dy, slope))
    dx = xp.empty_like(c2)

    def run(lo, hi):
        d = dx[lo:hi]
        xp.multiply(c2[lo:hi], slope_row, out=d)    # (x - mu) slope = x̂ mean(dy x̂)
        d += mean_row                               # + mean(dy)
        xp.subtract(g2[lo:hi], d, out=d)            # dy - mean(dy) - x̂ mean(dy x̂)
        d *= scale_row

    _over_batch(run, dy)
    return _unrows(dx, centred.shape, last)


@_reference_of(batch_norm_input_grad)
def batch_norm_input_grad_reference(dy, centred, scale, mean_dy, slope):
    c = lambda v: _per_channel(v, dy.ndim)  # noqa: E731
    return c(scale) * (dy - c(mean_dy) - centred * c(slope))


def channel_scale(dy, scale, like):
    """scale ⊙ dy per channel, in the memory layout of `like` (the layer's cached x̂)."""
    xp = B.get_backend()
    last = _channels_last(like)
    _, g2, _ = _rows(dy, last)
    scale_row = _row(scale, g2, last)
    dx = xp.empty_like(g2)
    _over_batch(lambda lo, hi: xp.multiply(g2[lo:hi], scale_row, out=dx[lo:hi]), dy)
    return _unrows(dx, dy.shape, last)


@_reference_of(channel_scale)
def channel_scale_reference(dy, scale, like):
    return _per_channel(scale, dy.ndim) * dy


# -- Adam -------------------------------------------------------------------------------------------
ADAM_BLOCK = 1 << 16  # elements per block: p, g, m, v and one temporary fit in a core's cache


def adam_update(p, g, m, v, beta1: float, beta2: float, eps: float, step_size: float, inv_bc2: float):
    r"""In place: $m \leftarrow \beta_1 m + (1-\beta_1) g$, $v \leftarrow \beta_2 v + (1-\beta_2) g^2$,
    $p \leftarrow p - \text{step\_size} \cdot m / (\sqrt{v}\, \text{inv\_bc2} + \epsilon)$.

    On NumPy a contiguous array is updated block by block (`ADAM_BLOCK` elements), every
    operation running on a block while it sits in cache: about one trip to memory instead of
    a dozen; the blocks are split between threads. CuPy updates whole arrays. The step is
    computed as $m / (\sqrt{v}\, c + e)$ with $c$ = inv_bc2 / step_size and $e$ = eps / step_size,
    the same value with one multiplication fewer; a step size so small that $c$ would
    overflow p's dtype takes the reference formula instead."""
    arrays = (p, g, m, v)
    c = inv_bc2 / step_size if step_size > 0 else float("inf")
    if not c < _largest(p.dtype):  # a zero step, or a folded constant that would overflow p's dtype
        adam_update_reference(p, g, m, v, beta1, beta2, eps, step_size, inv_bc2)
        return
    one = p.dtype.type  # the constants as scalars of p's dtype: no pass goes through float64
    constants = (one(1 - beta1), one(1 - beta2), one(c), one(eps / step_size))
    if B.backend_name() != "numpy" or p.size <= ADAM_BLOCK or not all(a.flags.c_contiguous for a in arrays):
        _adam_block(p, g, m, v, *constants)
        return
    flat = [a.reshape(-1) for a in arrays]  # views: the updates land in p, m, v
    starts = range(0, p.size, ADAM_BLOCK)

    def update(lo, hi):
        for start in starts[lo:hi]:
            _adam_block(*(a[start:start + ADAM_BLOCK] for a in flat), *constants)

    # a dozen passes over each element: two blocks already pay for a second thread
    runtime.parallel_for(update, len(starts), p.size, min_work=2 * ADAM_BLOCK, threads=_threads())


def _adam_block(p, g, m, v, one_minus_beta1, one_minus_beta2, c, e):
    """One block of `adam_update` in twelve passes and one temporary: m += (1-b1)(g - m),
    v += (1-b2)(g^2 - v), p -= m / (sqrt(v) c + e)."""
    xp = B.get_backend()
    tmp = g - m
    tmp *= one_minus_beta1
    m += tmp
    xp.multiply(g, g, out=tmp)
    tmp -= v
    tmp *= one_minus_beta2
    v += tmp
    xp.sqrt(v, out=tmp)
    tmp *= c
    tmp += e
    xp.divide(m, tmp, out=tmp)
    p -= tmp


@functools.cache
def _largest(dtype) -> float:
    """The dtype's largest finite value (dtypes are NumPy's on either backend)."""
    return float(B.host.finfo(dtype).max)


@_reference_of(adam_update)
def adam_update_reference(p, g, m, v, beta1, beta2, eps, step_size, inv_bc2):
    xp = B.get_backend()
    m[...] = beta1 * m + (1 - beta1) * g
    v[...] = beta2 * v + (1 - beta2) * g * g
    p -= step_size * m / (xp.sqrt(v) * inv_bc2 + eps)


# -- matrix products ---------------------------------------------------------------------------------
def matmul(a, b):
    """`a @ b` for 2-D arrays. With an inner dimension of 1 (backpropagating into a Dense layer
    with one output, a discriminator's last) the product is an outer product, and NumPy's
    general matrix product takes a slow path for it; broadcasting computes it in one pass."""
    if a.shape[1] == 1:
        return a * b
    return a @ b


@_reference_of(matmul)
def matmul_reference(a, b):
    return a @ b


# -- convolution windows (im2col / col2im) ---------------------------------------------------------------
def pad_channels_last(x, ph: int, pw: int):
    """An (N, C, H, W) array, in any memory layout, zero-padded by `ph` rows and `pw` columns on
    each side into a fresh channels-last (N, H + 2ph, W + 2pw, C) array: one copy of x into
    the middle, zeros written on the border only; the batch split between threads."""
    xp = B.get_backend()
    n, c, h, w = x.shape
    out = xp.empty((n, h + 2 * ph, w + 2 * pw, c), dtype=x.dtype)
    src = x.transpose(0, 2, 3, 1)

    def pad(lo, hi):
        o = out[lo:hi]
        o[:, ph:ph + h, pw:pw + w, :] = src[lo:hi]
        if ph or pw:
            o[:, :ph], o[:, ph + h:] = 0, 0
            o[:, ph:ph + h, :pw], o[:, ph:ph + h, pw + w:] = 0, 0

    _over_batch(pad, out)
    return out


@_reference_of(pad_channels_last)
def pad_channels_last_reference(x, ph: int, pw: int):
    return B.get_backend().pad(x.transpose(0, 2, 3, 1), ((0, 0), (ph, ph), (pw, pw), (0, 0)))


def copy_windows(windows):
    """A contiguous copy of a strided `(N, ...)` view of all of an image's windows: im2col's one
    copy, split over the batch between threads."""
    out = B.get_backend().empty(windows.shape, dtype=windows.dtype)

    def gather(lo, hi):
        out[lo:hi] = windows[lo:hi]

    _over_batch(gather, out, min_work=1 << 20)
    return out


@_reference_of(copy_windows)
def copy_windows_reference(windows):
    return windows.copy()


def matmul_by_offset(a, b, k: int):
    """`a @ b` for b of shape `(K, k*C)`, as the `(M, k, C)` array `(a @ b).reshape(M, k, C)`,
    stored offset-major: its memory is `(k, M, C)`, one product `a @ b[:, j*C:(j+1)*C]` per
    kernel offset j, so that each offset's `(M, C)` block is contiguous. col2im reads the
    result one offset at a time; from a row-major `(M, k*C)` product each offset's entries lie
    `k*C` apart, and those strided reads cost more than the sums themselves. For C < 8 (an
    image's single channel) the k thin products cost more than the strided reads, and the
    result is the row-major product, reshaped."""
    xp = B.get_backend()
    c = b.shape[1] // k
    if c < 8:  # blocks this narrow: one product with k*C columns runs faster than k thin ones
        return (a @ b).reshape(a.shape[0], k, c)
    return xp.matmul(a, b.reshape(-1, k, c).transpose(1, 0, 2)).transpose(1, 0, 2)


@_reference_of(matmul_by_offset)
def matmul_by_offset_reference(a, b, k: int):
    return (a @ b).reshape(a.shape[0], k, -1)


def sum_windows(cols, offsets, shape):
    """col2im's scatter-add into a fresh `(N, H, W, C)` array of `shape`: starting from zeros,
    `out[:, rows, columns, :] += cols[:, a, b, i, j, :]` for each `(rows, columns, a, b, i, j)`
    of `offsets`, where `rows` and `columns` step by the stride.

    An in-place add into a strided view of `out` runs several times slower than one into
    contiguous memory, so the windows are summed phase by phase: the offsets whose rows and
    columns fall on the same (row mod stride, column mod stride) phase of the image are added
    up in a contiguous buffer shaped like that phase (the first offset that covers the whole
    phase is copied into it rather than added to zeros), which is then copied once into its
    place. At stride 1 there is one phase and the buffer is `out` itself. The batch is split
    between threads (threads take disjoint samples, so no two write the same pixel)."""
    xp = B.get_backend()
    n, height, width, c = shape
    out = xp.empty(shape, dtype=cols.dtype)
    if not offsets:
        out[...] = 0
        return out
    sh, sw = offsets[0][0].step, offsets[0][1].step
    taps = {}  # phase -> [(rows, columns) within the phase, a, b, i, j]
    for rows, columns, a, b, i, j in offsets:
        r, q = rows.start // sh, columns.start // sw
        taps.setdefault((rows.start % sh, columns.start % sw), []).append(
            (slice(r, r + a.stop - a.start), slice(q, q + b.stop - b.start), a, b, i, j))
    plan = []  # (phase row, phase column, phase height, phase width, whole, its taps)
    for ry in range(min(sh, height)):
        for rx in range(min(sw, width)):
            mh, mw = len(range(ry, height, sh)), len(range(rx, width, sw))
            mine = taps.get((ry, rx), [])
            covers = [t[:2] == (slice(0, mh), slice(0, mw)) for t in mine]
            if any(covers):  # that one first: copied into the buffer, no zeros needed
                mine.insert(0, mine.pop(covers.index(True)))
            plan.append((ry, rx, mh, mw, any(covers), mine))
    direct = sh == 1 and sw == 1

    def scatter(lo, hi):
        for ry, rx, mh, mw, whole, mine in plan:
            buf = out[lo:hi] if direct else xp.empty((hi - lo, mh, mw, c), dtype=cols.dtype)
            if whole:
                _, _, a, b, i, j = mine[0]
                buf[...] = cols[lo:hi, a, b, i, j, :]
            else:
                buf.fill(0)
            for rows, columns, a, b, i, j in mine[1 if whole else 0:]:
                buf[:, rows, columns, :] += cols[lo:hi, a, b, i, j, :]
            if not direct:
                out[lo:hi, ry::sh, rx::sw, :] = buf

    _over_batch(scatter, cols, min_work=1 << 20)
    return out


@_reference_of(sum_windows)
def sum_windows_reference(cols, offsets, shape):
    out = B.get_backend().zeros(shape, dtype=cols.dtype)
    for rows, columns, a, b, i, j in offsets:
        out[:, rows, columns, :] += cols[:, a, b, i, j, :]
    return out
