"""Losses, each returning `(value, gradient)`: backprop starts from that explicit gradient with respect to the loss's input.

The value is a 0-d array of the current backend, not a Python float: on a GPU,
reading it (`float(value)`) makes the host wait for the device, so a training
step leaves it on the device and the training loop reads its statistics once per
logging step.

Three losses, each derived in its function's docstring:

* `sigmoid_cross_entropy`: binary cross-entropy on logits $a$, written so that it never
  overflows; a GAN's value function is made of it;
* `softmax_cross_entropy`: cross-entropy of a softmax over $K$ classes against integer
  labels (it trains the classifier of `npgan.evaluation.classifier`);
* `mmd2`: the unbiased squared Maximum Mean Discrepancy between two sample sets, with its
  gradient with respect to the first (it trains the MMD generator of `npgan.gan.mmd`).
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
    r"""$\operatorname{softplus}(x) = \log(1 + e^x)$ without overflow, as $\max(x, 0) + \log(1 + e^{-|x|})$ (`log1p`)."""
    xp = B.get_backend()
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


def sigmoid_cross_entropy(logits, targets):
    r"""Mean binary cross-entropy of $\sigma(a)$, $a$ the `logits`, against `targets` $t$; returns `(loss, grad_logits)`.

    `targets` is an array of the logits' shape with values in $[0, 1]$ (soft targets
    such as 0.9 allowed, for label smoothing) or a single number used for every element;
    targets outside $[0, 1]$ are refused. `loss` is a 0-d array and `grad_logits` the
    adjoint $\bar a$, of the logits' shape. The loss is finite for any finite logits; an
    infinite logit costs 0 with the target it predicts (and $\infty$ with the other).

    **Forward.** For one logit $a$ and its target $t$, with $\sigma(a) = 1/(1 + e^{-a})$,

    $$
    \ell(a, t) = -t \log \sigma(a) - (1 - t) \log\bigl(1 - \sigma(a)\bigr).
    $$

    Written this way it overflows: $\log \sigma(a) = -\log(1 + e^{-a})$ is $-\infty$ in
    float32 once $e^{-a}$ overflows. Rewrite both logarithms with
    $\operatorname{softplus}(u) = \log(1 + e^u)$. Since $1 - \sigma(a) = \sigma(-a)$,

    $$
    \begin{aligned}
    \log \sigma(a) &= -\log(1 + e^{-a}) = -\operatorname{softplus}(-a), \\
    \log\bigl(1 - \sigma(a)\bigr) &= \log \sigma(-a) = -\operatorname{softplus}(a), \\
    \ell(a, t) &= t \operatorname{softplus}(-a) + (1 - t) \operatorname{softplus}(a).
    \end{aligned}
    $$

    Then $\operatorname{softplus}(-a) = \log\bigl(e^{-a}(e^{a} + 1)\bigr) = \operatorname{softplus}(a) - a$,
    and factoring $e^{\max(a, 0)}$ out of $1 + e^a$ gives
    $\operatorname{softplus}(a) = \max(a, 0) + \log(1 + e^{-|a|})$, so

    $$
    \begin{aligned}
    \ell(a, t) &= \operatorname{softplus}(a) - a t \\
    &= \max(a, 0) - a t + \log\bigl(1 + e^{-|a|}\bigr),
    \end{aligned}
    $$

    which never exponentiates a positive number. The code evaluates the third line of the
    first block, each softplus in this stable form, and leaves a term out where its weight
    $t$ or $1 - t$ is 0, so an infinite logit with the target it predicts costs 0 (not
    $\infty - \infty$ = nan).

    **Gradient.** $\operatorname{softplus}'(a) = e^a/(1 + e^a) = \sigma(a)$, so

    $$
    \frac{\partial \ell}{\partial a} = \sigma(a) - t.
    $$

    The loss is the mean over all $N$ elements of the logits (the batch, for a
    discriminator's $(N, 1)$ output), $L = \frac1N \sum_n \ell(a_n, t_n)$, so

    $$
    \bar a_n = \frac{\partial L}{\partial a_n} = \frac{\sigma(a_n) - t_n}{N}.
    $$

    **In a GAN.** This is how a GAN's value function is evaluated: with
    $D(x) = \sigma(a)$, $-\log D(x) = \ell(a, 1)$ and $-\log\bigl(1 - D(G(z))\bigr) = \ell(a, 0)$
    for the logit $a$ that D gives the sample.
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
    r"""$\log \operatorname{softmax}$ over the last axis, stably: $a_k - m - \log \sum_j e^{a_j - m}$ with $m = \max_j a_j$."""
    xp = B.get_backend()
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


def softmax_cross_entropy(logits, labels):
    r"""Mean cross-entropy of the softmax of `logits` $a$ against integer class `labels`; returns `(loss, grad_logits)`.

    Shapes: logits $a$ of $(N, K)$, labels $y$ of $(N,)$, integers in $[0, K)$ (others are
    refused, as is an empty batch). `loss` is a 0-d array and `grad_logits` the adjoint
    $\bar a$, $(N, K)$. This trains the Fashion-MNIST classifier whose features give
    npgan's Fréchet distance (`npgan.evaluation.classifier`).

    **Forward.** With $p_{nk} = e^{a_{nk}} / \sum_j e^{a_{nj}}$ the softmax of row $n$,

    $$
    \begin{aligned}
    L &= -\frac1N \sum_n \log p_{n y_n} \\
    &= \frac1N \sum_n \Bigl(\log \sum_j e^{a_{nj}} - a_{n y_n}\Bigr).
    \end{aligned}
    $$

    It is computed from `log_softmax`, which subtracts the row's maximum
    $m_n = \max_j a_{nj}$ first, $\log \sum_j e^{a_{nj}} = m_n + \log \sum_j e^{a_{nj} - m_n}$,
    so no exponent is positive and nothing overflows.

    **Gradient.** Differentiate row $n$'s term with respect to $a_{nk}$: the log-sum-exp
    gives $e^{a_{nk}} / \sum_j e^{a_{nj}} = p_{nk}$, and $-a_{n y_n}$ gives $-1$ where
    $k = y_n$, 0 elsewhere. No other row depends on $a_{nk}$, so

    $$
    \bar a_{nk} = \frac{\partial L}{\partial a_{nk}} = \frac{p_{nk} - [k = y_n]}{N},
    $$

    with $[k = y_n]$ the one-hot row of the label (1 where $k = y_n$, else 0): the softmax
    minus the one-hot target, over $N$.
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
    """`bandwidths` as a tuple of floats, or a `ValueError` saying what they must be."""
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
    r"""Unbiased squared Maximum Mean Discrepancy between samples `x` $(N, d)$ and `y` $(M, d)$; returns `(value, grad_x)`.

    `value` is a 0-d array and `grad_x` its gradient with respect to `x`, of x's shape.
    `x` and `y` must hold at least 2 samples each and have the same feature size $d$;
    `bandwidths` (`DEFAULT_BANDWIDTHS` unless given) must be one or more numbers in
    `BANDWIDTH_RANGE` (`check_bandwidths`).

    **Kernel.** A mixture of Gaussian kernels, one per bandwidth $s$ in the set $S$:

    $$
    k(u, v) = \sum_{s \in S} k_s(u, v), \qquad k_s(u, v) = \exp\Bigl(-\frac{\|u - v\|^2}{2 s^2}\Bigr).
    $$

    **Forward.** The unbiased estimator leaves out the $i = j$ terms of the two
    within-set sums:

    $$
    \widehat{\mathrm{MMD}}^2 = \frac{1}{N(N-1)} \sum_{i \ne j} k(x_i, x_j)
    + \frac{1}{M(M-1)} \sum_{i \ne j} k(y_i, y_j)
    - \frac{2}{NM} \sum_{i, j} k(x_i, y_j).
    $$

    Its expectation is the squared MMD of the two distributions, which is zero exactly
    when x and y come from the same distribution (for a characteristic kernel, as the
    Gaussian is). That is what makes it a training signal for a generator with no
    discriminator (generative moment matching networks, Li et al. 2015; Dziugaite et al.
    2015).

    **Gradient** with respect to the generated samples $x$. By the chain rule on
    $\|u - v\|^2$,

    $$
    \frac{\partial k_s(u, v)}{\partial u} = -\frac{k_s(u, v)\,(u - v)}{s^2},
    \qquad\text{so}\qquad
    \frac{\partial k(u, v)}{\partial u} = -w(u, v)\,(u - v),
    \quad w(u, v) = \sum_{s \in S} \frac{k_s(u, v)}{s^2},
    $$

    and, $k$ being symmetric, $\partial k(u, v)/\partial v = -w(u, v)(v - u)$. In the first
    sum $x_i$ appears twice for each $j \ne i$, as the left argument of $k(x_i, x_j)$ and as
    the right one of $k(x_j, x_i)$; the second sum has no $x$; in the third it is the left
    argument of $k(x_i, y_j)$ for each $j$:

    $$
    \begin{aligned}
    \frac{\partial}{\partial x_i} \sum_{p \ne q} k(x_p, x_q) &= -2 \sum_{j \ne i} w(x_i, x_j)(x_i - x_j), \\
    \frac{\partial}{\partial x_i} \sum_{p, q} k(x_p, y_q) &= -\sum_j w(x_i, y_j)(x_i - y_j), \\
    \frac{\partial \widehat{\mathrm{MMD}}^2}{\partial x_i} &= -\frac{2}{N(N-1)} \sum_{j \ne i} w(x_i, x_j)(x_i - x_j)
    + \frac{2}{NM} \sum_j w(x_i, y_j)(x_i - y_j).
    \end{aligned}
    $$

    **In matrix form**, with $w^{xx}_{ij} = w(x_i, x_j)$ (its diagonal set to 0: the
    $i = j$ terms are excluded, and are zero anyway as $x_i - x_i = 0$), $w^{xy}_{ij} = w(x_i, y_j)$,
    and each sum split as $\sum_j w_{ij}(x_i - v_j) = \bigl(\sum_j w_{ij}\bigr) x_i - (w v)_i$
    (row sum times $x_i$, minus row $i$ of the matrix product with the samples $v$ stacked
    as rows):

    $$
    \frac{\partial \widehat{\mathrm{MMD}}^2}{\partial x} = -\frac{2}{N(N-1)}
    \bigl(\operatorname{rowsum}(w^{xx}) \odot x - w^{xx} x\bigr)
    + \frac{2}{NM} \bigl(\operatorname{rowsum}(w^{xy}) \odot x - w^{xy} y\bigr),
    $$

    where $\operatorname{rowsum}(w) \odot x$ scales row $i$ of $x$ by $\sum_j w_{ij}$.
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
