r"""Losses, each returning ``(value, gradient)`` so backprop starts from an explicit dL/d(input).

The value is a 0-d array of the current backend, not a Python float: on a GPU,
reading it (``float(value)``) makes the host wait for the device, so a training
step leaves it on the device and the training loop reads its statistics once per
logging step.

Sigmoid cross-entropy on logits
-------------------------------
For a logit x and a (possibly soft) target t in [0, 1], with s = sigmoid(x)::

    l(x, t) = -[t log s + (1 - t) log(1 - s)]

Written this way it overflows: log s = -log(1 + e^{-x}) is -inf in float32 once
e^{-x} overflows. Using log s = -softplus(-x) and log(1 - s) = -softplus(x), and
softplus(x) = max(x, 0) + log(1 + e^{-|x|}), gives the stable form used here::

    l(x, t) = max(x, 0) - x t + log(1 + exp(-|x|))

which never exponentiates a positive number. Its derivative is simply::

    dl/dx = sigmoid(x) - t

The loss is the mean over all M elements, so the returned gradient is
(sigmoid(x) - t) / M. This is how a GAN's value function is evaluated:
with D = sigmoid(logit), -log D(x) = l(logit, 1) and -log(1 - D(G(z))) = l(logit, 0).
"""

from __future__ import annotations

from . import backend as B
from .nn.activations import sigmoid


def _check_pair(logits, targets, where):
    B.check_array(logits, where)
    if logits.dtype.kind != "f":
        raise B.BackendMismatchError(f"{where}: expected floating-point logits, received "
                                     f"dtype {logits.dtype.name}")
    if logits.size == 0:
        raise ValueError(f"{where}: received empty logits")
    xp = B.get_backend()
    if isinstance(targets, (int, float)):
        if not 0.0 <= targets <= 1.0:
            raise ValueError(f"{where}: targets must be in [0, 1], got {targets}")
        return xp.full(logits.shape, targets, dtype=logits.dtype)
    B.check_array(targets, where + " (targets)")
    if tuple(targets.shape) != tuple(logits.shape):
        raise ValueError(f"{where}: targets must have the logits' shape {tuple(logits.shape)}, "
                         f"received {tuple(targets.shape)}")
    if targets.size and not (float(targets.min()) >= 0.0 and float(targets.max()) <= 1.0):
        raise ValueError(f"{where}: targets must be in [0, 1], received values from "
                         f"{float(targets.min())} to {float(targets.max())}")
    return targets.astype(logits.dtype, copy=False)


def softplus(x):
    """log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|))."""
    xp = B.get_backend()
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


def sigmoid_cross_entropy(logits, targets):
    """Mean binary cross-entropy of ``sigmoid(logits)`` against ``targets``.

    ``targets`` is an array of the logits' shape with values in [0, 1] (soft
    targets such as 0.9 allowed, for label smoothing) or a single number used
    for every element. Returns ``(loss, grad_logits)``: a 0-d array and
    dL/dlogits, an array of the logits' shape. Finite for any finite logits; an
    infinite logit costs 0 with the target it predicts (and inf with the other).
    Targets outside [0, 1] are refused.
    """
    t = _check_pair(logits, targets, "sigmoid_cross_entropy")
    m = logits.size
    # t softplus(-x) + (1 - t) softplus(x), each term left out where its weight is 0, so an
    # infinite logit with the target it predicts costs 0 (not inf - inf = nan)
    xp = B.get_backend()
    per_element = t * xp.where(t > 0, softplus(-logits), 0) + (1 - t) * xp.where(t < 1, softplus(logits), 0)
    loss = per_element.sum() / m
    grad = (sigmoid(logits) - t) / m
    return loss, grad


def log_softmax(logits):
    """log softmax over the last axis, stably: x - max(x) - log sum exp(x - max(x))."""
    xp = B.get_backend()
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


def softmax_cross_entropy(logits, labels):
    r"""Mean cross-entropy of softmax(``logits``) against integer class ``labels``.

    Shapes: logits (N, K); labels (N,) integers in [0, K). With p = softmax(x)::

        L = -1/N sum_n log p[n, labels[n]]
          = 1/N sum_n ( logsumexp(x[n]) - x[n, labels[n]] )

    computed from log_softmax (the max is subtracted first, so nothing overflows).
    Backward: dL/dx[n, k] = (p[n, k] - [k == labels[n]]) / N. Returns
    ``(loss, grad_logits)``. This trains the Fashion-MNIST classifier whose features
    give npgan's Frechet distance (``npgan.evaluation.classifier``).
    """
    B.check_array(logits, "softmax_cross_entropy", ndim=2)
    if logits.dtype.kind != "f":
        raise B.BackendMismatchError(f"softmax_cross_entropy: expected floating-point logits, "
                                     f"received dtype {logits.dtype.name}")
    B.check_array(labels, "softmax_cross_entropy (labels)", ndim=1)
    n, k = logits.shape
    if labels.shape[0] != n or labels.dtype.kind not in "iu":
        raise ValueError(f"softmax_cross_entropy: expected labels of shape ({n},) and an integer "
                         f"dtype, received {tuple(labels.shape)} {labels.dtype.name}")
    if n == 0:
        raise ValueError("softmax_cross_entropy: received an empty batch")
    lo, hi = int(labels.min()), int(labels.max())  # before indexing: CuPy would wrap around
    if lo < 0 or hi >= k:
        raise ValueError(f"softmax_cross_entropy: labels must be in [0, {k}) for {k} classes, "
                         f"received labels from {lo} to {hi}")
    xp = B.get_backend()
    logp = log_softmax(logits)
    rows = xp.arange(n)
    loss = -logp[rows, labels].sum() / n
    grad = xp.exp(logp)
    grad[rows, labels] -= 1.0
    grad *= 1.0 / n
    return loss, grad


def _sq_dists(a, b):
    """Pairwise squared distances ||a_i - b_j||^2, (n, m), clipped at 0 against rounding."""
    xp = B.get_backend()
    d = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * (a @ b.T)
    return xp.maximum(d, 0)


def _kernel(a, b, bandwidths):
    """K[i, j] = sum_s exp(-||a_i - b_j||^2 / (2 s^2)) and W[i, j] = sum_s exp(...) / s^2."""
    d = _sq_dists(a, b)
    xp = B.get_backend()
    k = xp.zeros_like(d)
    w = xp.zeros_like(d)
    for s in bandwidths:  # a handful of bandwidths, each one whole-matrix operation
        e = xp.exp(d * (-0.5 / (s * s)))
        k += e
        w += e * (1.0 / (s * s))
    return k, w


DEFAULT_BANDWIDTHS = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
# Outside this range a Gaussian kernel is all 0 or all 1 in float32 for data whose distances are
# of order 0.01 to 100 (npgan's sets, images in [-1, 1]): no gradient, or a division by s^2 = 0.
BANDWIDTH_RANGE = (1e-4, 1e4)


def check_bandwidths(bandwidths, who: str = "mmd2") -> tuple:
    """``bandwidths`` as a tuple of floats, or a ``ValueError`` saying what they must be."""
    lo, hi = BANDWIDTH_RANGE
    try:
        values = tuple(float(s) for s in bandwidths)
    except (TypeError, ValueError):
        values = ()
    if not values or not all(lo <= s <= hi for s in values):
        raise ValueError(f"{who}: bandwidths must be one or more positive numbers from {lo:g} to {hi:g} "
                         f"(a kernel outside that is 0 or 1 at every distance), got {tuple(bandwidths)}")
    return values


def mmd2(x, y, bandwidths=DEFAULT_BANDWIDTHS):
    r"""Unbiased squared Maximum Mean Discrepancy between samples x (n, d) and y (m, d).

    With the Gaussian mixture kernel k(a, b) = sum_s exp(-||a - b||^2 / (2 s^2))::

        MMD^2 = 1/(n(n-1)) sum_{i != j} k(x_i, x_j) + 1/(m(m-1)) sum_{i != j} k(y_i, y_j)
              - 2/(nm) sum_{i, j} k(x_i, y_j)

    Its expectation is zero exactly when x and y come from the same distribution
    (for a characteristic kernel), which is what makes it a training signal for
    a generator with no discriminator (generative moment matching networks,
    Li et al. 2015; Dziugaite et al. 2015).

    Gradient with respect to the generated samples x. Since
    d k_s(a, b) / da = -k_s(a, b) (a - b) / s^2, with W[i, j] = sum_s k_s(x_i, z_j) / s^2::

        dMMD^2/dx_i = -2/(n(n-1)) sum_{j != i} Wxx[i, j] (x_i - x_j)
                      + 2/(nm)     sum_j      Wxy[i, j] (x_i - y_j)

    (the first term counts x_i twice, as the left and the right argument), i.e.
    with r(W) the row sums: (r(W) * x_i - (W @ z)_i). Returns ``(value, grad_x)``
    with grad_x of x's shape. x and y must hold at least 2 samples each.
    """
    bandwidths = check_bandwidths(bandwidths)
    for name, a in (("x", x), ("y", y)):
        B.check_array(a, f"mmd2 ({name})", ndim=2)
        if a.shape[0] < 2:
            raise ValueError(f"mmd2: {name} needs at least 2 samples, received shape {tuple(a.shape)}")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"mmd2: x and y must have the same feature size, received "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    xp = B.get_backend()
    n, m = x.shape[0], y.shape[0]
    kxx, wxx = _kernel(x, x, bandwidths)
    kyy, _ = _kernel(y, y, bandwidths)
    kxy, wxy = _kernel(x, y, bandwidths)
    nb = len(bandwidths)
    # the diagonal of a self-kernel is exactly nb (distance 0); remove it from the sums
    kxx_sum = kxx.sum() - nb * n
    kyy_sum = kyy.sum() - nb * m
    value = kxx_sum / (n * (n - 1)) + kyy_sum / (m * (m - 1)) - 2.0 * kxy.sum() / (n * m)
    idx = xp.arange(n)
    wxx[idx, idx] = 0  # the i == j terms are excluded (and are zero anyway, x_i - x_i = 0)
    grad = (-2.0 / (n * (n - 1))) * (wxx.sum(axis=1)[:, None] * x - wxx @ x)
    grad += (2.0 / (n * m)) * (wxy.sum(axis=1)[:, None] * x - wxy @ y)
    return value, grad
