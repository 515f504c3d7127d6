"""Normalisation layers: BatchNorm (over the batch, per channel) and LayerNorm (per sample)."""

from __future__ import annotations

from .. import backend as B
from .. import kernels as K
from .im2col import integer
from .module import Layer, Parameter


class BatchNorm(Layer):
    r"""Normalise each channel over the batch (and spatial positions), then scale and shift.

    **Shapes.** x `(N, C)` or `(N, C, H, W)`; $\gamma$ = `weight` `(C,)`, $\beta$ = `bias`
    `(C,)`; y like x. Each channel is normalised on its own, over its $m$ values: the $N$
    samples for a `(N, C)` input (a Dense layer's output), the $N \cdot H \cdot W$ values of
    all samples and positions for images. Below, $k$ runs over one channel's $m$ values,
    and $\mu$, $\sigma^2$, $\gamma$, $\beta$ are that channel's.

    **Forward, training.** The batch's statistics (biased variance), then the affine map:

    $$
    \mu = \frac1m \sum_k x_k, \qquad
    \sigma^2 = \frac1m \sum_k (x_k - \mu)^2, \qquad
    \hat x_k = (x_k - \mu)\, r, \quad r = \frac{1}{\sqrt{\sigma^2 + \epsilon}}, \qquad
    y_k = \gamma\, \hat x_k + \beta .
    $$

    The running statistics, used in eval mode, are updated with $\lambda$ = `momentum` and,
    as in PyTorch, the *unbiased* variance:

    $$
    \mu_\text{run} \leftarrow (1 - \lambda)\, \mu_\text{run} + \lambda\, \mu, \qquad
    \sigma^2_\text{run} \leftarrow (1 - \lambda)\, \sigma^2_\text{run} + \lambda\, \sigma^2 \frac{m}{m - 1} .
    $$

    **Forward, eval.** The same with $\mu$, $\sigma^2$ replaced by $\mu_\text{run}$,
    $\sigma^2_\text{run}$ (`running_mean`, `running_var`): constants, so $y$ is an affine
    map of $x$, elementwise.

    **Backward, parameters.** $y_k = \gamma \hat x_k + \beta$, and $\gamma$, $\beta$ reach
    all $m$ outputs of their channel:

    $$
    \bar\gamma = \sum_k \bar y_k\, \hat x_k, \qquad
    \bar\beta = \sum_k \bar y_k, \qquad
    \bar{\hat x}_k = \gamma\, \bar y_k .
    $$

    **Backward to the input, training.** $x_k$ reaches $L$ along three paths: directly
    through $\hat x_k$, through $\mu$ and through $\sigma^2$, and $\mu$ itself reaches $L$
    directly through every $\hat x_k$ and through $\sigma^2$. Take $\hat x_k$ as a function of
    $(x_k, \mu, \sigma^2)$ and $\sigma^2$ as a function of $(x, \mu)$. First $\sigma^2$, which
    reaches $L$ only through the $\hat x_k$; with
    $\partial \hat x_k / \partial \sigma^2 = -\tfrac12 (x_k - \mu)(\sigma^2 + \epsilon)^{-3/2} = -\tfrac12 r^2 \hat x_k$:

    $$
    \overline{\sigma^2} = \sum_k \bar{\hat x}_k \frac{\partial \hat x_k}{\partial \sigma^2}
        = -\frac{r^2}{2} \sum_k \bar{\hat x}_k\, \hat x_k .
    $$

    Then $\mu$, with $\partial \hat x_k / \partial \mu = -r$ and
    $\partial \sigma^2 / \partial \mu = -\frac2m \sum_k (x_k - \mu) = 0$ (the deviations from
    the mean sum to zero, so the path through $\sigma^2$ drops out):

    $$
    \bar\mu = \sum_k \bar{\hat x}_k \frac{\partial \hat x_k}{\partial \mu}
              + \overline{\sigma^2} \frac{\partial \sigma^2}{\partial \mu}
            = -r \sum_k \bar{\hat x}_k .
    $$

    Finally $x_k$, with $\partial \hat x_k / \partial x_k = r$,
    $\partial \mu / \partial x_k = \frac1m$ and $\partial \sigma^2 / \partial x_k = \frac2m (x_k - \mu) = \frac{2}{m r} \hat x_k$:

    $$
    \begin{aligned}
    \bar x_k &= \bar{\hat x}_k \frac{\partial \hat x_k}{\partial x_k}
              + \bar\mu \frac{\partial \mu}{\partial x_k}
              + \overline{\sigma^2} \frac{\partial \sigma^2}{\partial x_k}
              = r\, \bar{\hat x}_k - \frac{r}{m} \sum_{k'} \bar{\hat x}_{k'}
                - \frac{r}{m}\, \hat x_k \sum_{k'} \bar{\hat x}_{k'} \hat x_{k'} \\
             &= \frac{r}{m} \Big( m\, \bar{\hat x}_k - \sum_{k'} \bar{\hat x}_{k'}
                - \hat x_k \sum_{k'} \bar{\hat x}_{k'} \hat x_{k'} \Big) .
    \end{aligned}
    $$

    $\gamma$ is one number per channel, so $\bar{\hat x} = \gamma \bar y$ takes it out of the
    sums, and the two sums left are the ones $\bar\beta$ and $\bar\gamma$ already computed:

    $$
    \bar x_k = \gamma\, r \Big( \bar y_k - \frac1m \sum_{k'} \bar y_{k'}
               - \hat x_k\, \frac1m \sum_{k'} \bar y_{k'} \hat x_{k'} \Big)
             = \gamma\, r \Big( \bar y_k - \frac{\bar\beta}{m} - \hat x_k \frac{\bar\gamma}{m} \Big) .
    $$

    This is the form the code uses: $\bar y$ with its mean and its component along $\hat x$
    taken out, scaled by $\gamma r$; the whole backward pass is the two sums over $\bar y$
    and four elementwise passes. The code keeps $x_k - \mu$ rather than $\hat x_k$, and
    folds $r$ into per-channel constants: $y_k = (\gamma r)(x_k - \mu) + \beta$,
    $\bar\gamma = r \sum_k \bar y_k (x_k - \mu)$ and
    $\hat x_k \frac{\bar\gamma}{m} = (x_k - \mu)\, r \frac{\bar\gamma}{m}$, which saves
    the forward pass a pass over the activations that would only write $\hat x$ out.

    **Backward to the input, eval.** $\mu$ and $\sigma^2$ are constants, so only the direct
    path is left: $\bar x_k = \gamma\, r\, \bar y_k$.

    **Double backward.** Refused: the statistics mix the samples of a batch, so one sample's
    input gradient depends on the others and is not what a gradient penalty means; use
    `LayerNorm` in a penalised critic (as the WGAN-GP paper does).

    How the code runs it: the passes are `npgan.kernels`' channel kernels
    (`channel_sum`, `channel_centre`, `batch_norm_affine`, `channel_sums`, `batch_norm_input_grad`,
    `channel_scale`), which keep x's memory layout (NCHW, or a convolution's channels-last
    output) and split the batch between threads; the formulas above are their reference.

    **Across ranks (synchronised BatchNorm).** In data-parallel training (`npgan.comm`) each of
    the $R$ ranks holds $1/R$ of the batch. With `comm` set, the statistics are those of the
    whole batch, as one process would compute them: every sum over $k$ above runs over all
    ranks' values, a sum over the rank's own values followed by an all-reduce, and $m$
    counts every rank's values. The forward pass all-reduces $\sum_k x_k$ (then $\mu$) and
    $\sum_k (x_k - \mu)^2$ (then $\sigma^2$); the backward pass all-reduces the two sums
    $\sum_k \bar y_k$ and $\sum_k \bar y_k \hat x_k$ that $\bar x_k$ needs. The parameter
    gradients stay the rank's own sums: the data-parallel optimiser averages every
    parameter's gradient over the ranks. Each rank's loss is the mean over its own rows, $R$
    times its share of the whole batch's mean loss, so each rank's $\bar y$ is $R$ times the
    single process's on the same rows, and so are its $\bar x$ and its parameter sums; the
    average over ranks of those sums is the single process's $\bar\gamma$, $\bar\beta$.

    Cache: $x - \mu$ (in x's memory layout), $r$ and the mode.
    """

    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        xp = B.get_backend()
        self.num_features = integer(num_features, "BatchNorm: num_features")
        self.momentum, self.eps = float(momentum), float(eps)
        dt = B.get_dtype()
        self.weight = Parameter(xp.ones(self.num_features, dtype=dt), "weight")
        self.bias = Parameter(xp.zeros(self.num_features, dtype=dt), "bias")
        self.register_buffer("running_mean", xp.zeros(self.num_features, dtype=dt))
        self.register_buffer("running_var", xp.ones(self.num_features, dtype=dt))
        self.comm = None  # a communicator (npgan.comm): statistics over every rank's batch

    def _input_spec(self) -> dict:
        return {"ndim": (2, 4), "channels": self.num_features}

    @classmethod
    def example(cls):
        return cls(3), (4, 3, 2, 2)

    def _over_ranks(self, sums):
        """Per-channel sums added up over every rank's part of the batch (as they are)."""
        return sums if self.comm is None else self.comm.allreduce(sums)

    def _values_per_channel(self, x) -> int:
        """m: one channel's values in the whole batch, every rank's (equal) part counted."""
        return x.size // self.num_features * (1 if self.comm is None else self.comm.size)

    def _forward(self, x, training):
        m = self._values_per_channel(x)
        if training and m < 2:
            raise ValueError(f"{self!r}: training needs more than 1 value per channel, "
                             f"received input shape {tuple(x.shape)}")
        if training:  # the batch's statistics, and x - mu
            mu = self._over_ranks(K.channel_sum(x)) / m
            centred, sum_sq = K.channel_centre(x, mu)
            var = self._over_ranks(sum_sq) / m
            lam = self.momentum
            self.running_mean = (1 - lam) * self.running_mean + lam * mu
            self.running_var = (1 - lam) * self.running_var + lam * var * (m / (m - 1))
        else:
            mu, var, centred = self.running_mean, self.running_var, None
        r = 1.0 / B.get_backend().sqrt(var + self.eps)
        # y = gamma xhat + beta = (gamma r)(x - mu) + beta
        centred, y = K.batch_norm_affine(x, mu, self.weight.data * r, self.bias.data, centred)
        return y, (centred, r, training)

    def _backward(self, grad_out, cache):
        centred, r, training = cache  # x - mu, and r: xhat = (x - mu) r
        m = self._values_per_channel(centred)
        if training or self.requires_grad:
            sum_g_centred, sum_g = K.channel_sums(grad_out, centred)
            sum_g_xhat = r * sum_g_centred  # dL/dgamma = sum g xhat = r sum g (x - mu); dL/dbeta = sum g
            if self.requires_grad:
                self.weight.grad += sum_g_xhat
                self.bias.grad += sum_g
        if not self.input_grad:
            return None
        scale = self.weight.data * r  # gamma * r
        if training:  # gamma r (g - mean(g) - xhat mean(g xhat)), the means over the whole batch
            if self.comm is not None:
                sums = self.comm.allreduce(B.get_backend().concatenate([sum_g_xhat, sum_g]))
                sum_g_xhat, sum_g = sums[:self.num_features], sums[self.num_features:]
            # xhat mean(g xhat) = (x - mu) (r mean(g xhat))
            return K.batch_norm_input_grad(grad_out, centred, scale, sum_g / m, r * sum_g_xhat / m)
        return K.channel_scale(grad_out, scale, like=centred)  # gamma r g

    def second_order_refusal(self):
        return ("BatchNorm mixes the samples of a batch through its statistics, so a sample's "
                "input gradient is not what a gradient penalty means; use LayerNorm in a "
                "penalised critic (as the WGAN-GP paper does)")

    def __repr__(self) -> str:
        return f"BatchNorm({self.num_features})"


class LayerNorm(Layer):
    r"""Layer normalisation (Ba et al. 2016): each sample normalised over its own features.

    **Shapes.** x `(N, *normalized_shape)`, with `normalized_shape` e.g. `(C, H, W)` or
    `(F,)`; $\gamma$ = `weight` and $\beta$ = `bias` of shape `normalized_shape` (PyTorch's
    `nn.LayerNorm` with its elementwise affine); y like x. Below, everything is per sample:
    $k$ runs over the sample's $m$ values (the product of `normalized_shape`), $x$, $\hat x$,
    $\bar y$, ... are the sample's $m$-vectors, $\langle \cdot, \cdot \rangle$ is the sum of the
    elementwise product over the $m$ values, and $\mathbf 1$ is the $m$-vector of ones.

    **Forward.** As `BatchNorm`'s, over a sample's values instead of a channel's, with a
    $\gamma_k$ and $\beta_k$ for every position:

    $$
    \mu = \frac1m \sum_k x_k, \qquad
    \sigma^2 = \frac1m \sum_k (x_k - \mu)^2, \qquad
    \hat x_k = (x_k - \mu)\, r, \quad r = \frac{1}{\sqrt{\sigma^2 + \epsilon}}, \qquad
    y_k = \gamma_k \hat x_k + \beta_k .
    $$

    No statistic mixes the samples of a batch, so $D(x_n)$ depends on $x_n$ alone: the
    normaliser of choice for a critic under a gradient penalty (Gulrajani et al. 2017).
    There is no training/eval difference.

    **Backward.** $\bar\gamma = \sum_n \bar y_n \odot \hat x_n$ and
    $\bar\beta = \sum_n \bar y_n$ (summed over the batch), and $\bar{\hat x} = \gamma \odot \bar y$.
    `BatchNorm`'s derivation of $\bar x$ from $\bar{\hat x}$ (the paths through $\mu$ and
    $\sigma^2$) does not use $\gamma$ and holds here word for word. As a Jacobian: with
    $\partial \mu / \partial x_{k'} = \frac1m$ and
    $\partial r / \partial x_{k'} = -\tfrac12 r^3 \, \partial \sigma^2 / \partial x_{k'} = -\frac{r^2}{m} \hat x_{k'}$,

    $$
    \frac{\partial \hat x_k}{\partial x_{k'}}
      = r \Big( [k = k'] - \frac1m \Big) + (x_k - \mu) \frac{\partial r}{\partial x_{k'}}
      = r \Big( [k = k'] - \frac1m - \frac1m \hat x_k \hat x_{k'} \Big),
    \qquad\text{i.e.}\qquad
    \frac{\partial \hat x}{\partial x} = r\, \Pi, \quad
    \Pi = I - \frac1m \mathbf 1 \mathbf 1^\top - \frac1m \hat x \hat x^\top .
    $$

    $\Pi$ is symmetric, so the chain rule
    $\bar x = (\partial \hat x / \partial x)^\top \bar{\hat x}$ gives

    $$
    \bar x = r\, \Pi\, \bar{\hat x}
           = r \Big( \bar{\hat x} - \frac1m \langle \bar{\hat x}, \mathbf 1 \rangle \mathbf 1
                     - \frac1m \langle \bar{\hat x}, \hat x \rangle \hat x \Big),
    \qquad \bar{\hat x} = \gamma \odot \bar y,
    $$

    BatchNorm's formula in vector form, with $\gamma$ left inside because it varies over $k$.

    **Double backward.** A penalty $P$ depends on $\bar x = r\, \Pi\, (\gamma \odot \bar y)$;
    the pass receives $\tilde{\bar x}$. $\bar x$ is linear in $\bar y$ and in $\gamma$, with
    the symmetric $\Pi$, so moving the maps across the inner product
    $\mathrm dP = \langle \tilde{\bar x}, \mathrm d\bar x \rangle$:

    $$
    \tilde{\bar y} = \gamma \odot r\, \Pi\, \tilde{\bar x}, \qquad
    \tilde\gamma = \sum_n \bar y_n \odot r\, \Pi\, \tilde{\bar x}_n ,
    $$

    $\tilde\gamma$ added into `weight.grad` ($\beta$ does not enter $\bar x$).

    For $\tilde x$, hold $\bar y$ (and so $\bar{\hat x}$) fixed: $x$ enters $\bar x$ through $r$
    and through the $\hat x$ inside $\Pi$,

    $$
    \mathrm d\bar x = \mathrm dr\; \Pi \bar{\hat x}
        - \frac{r}{m} \Big( \langle \bar{\hat x}, \mathrm d\hat x \rangle\, \hat x
                           + \langle \bar{\hat x}, \hat x \rangle\, \mathrm d\hat x \Big),
    \qquad \mathrm d\hat x = r\, \Pi\, \mathrm dx, \qquad
    \mathrm dr = -\frac{r^2}{m} \langle \hat x, \mathrm dx \rangle .
    $$

    Substituting into $\mathrm dP = \langle \tilde{\bar x}, \mathrm d\bar x \rangle$ and
    moving the symmetric $\Pi$ across each inner product, every term is an inner product
    with $\mathrm dx$:

    $$
    \begin{aligned}
    \mathrm dP &= -\frac{r^2}{m} \Big( \langle \tilde{\bar x}, \Pi \bar{\hat x} \rangle \langle \hat x, \mathrm dx \rangle
                 + \langle \tilde{\bar x}, \hat x \rangle \langle \Pi \bar{\hat x}, \mathrm dx \rangle
                 + \langle \bar{\hat x}, \hat x \rangle \langle \Pi \tilde{\bar x}, \mathrm dx \rangle \Big), \\
    \tilde x &= -\frac{r^2}{m} \Big( \hat x\, \langle \bar{\hat x}, \Pi \tilde{\bar x} \rangle
                 + \Pi \bar{\hat x}\, \langle \tilde{\bar x}, \hat x \rangle
                 + \Pi \tilde{\bar x}\, \langle \bar{\hat x}, \hat x \rangle \Big) .
    \end{aligned}
    $$

    Cache: $\hat x$ `(N, m)` and $r$ `(N, 1)`.
    """

    def __init__(self, normalized_shape, eps: float = 1e-5):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        if not shape or min(shape) < 1:
            raise ValueError(f"LayerNorm: normalized_shape must hold positive sizes, got {normalized_shape}")
        self.normalized_shape = tuple(int(s) for s in shape)
        self.eps = float(eps)
        xp, dt = B.get_backend(), B.get_dtype()
        self.weight = Parameter(xp.ones(self.normalized_shape, dtype=dt), "weight")
        self.bias = Parameter(xp.zeros(self.normalized_shape, dtype=dt), "bias")

    @classmethod
    def example(cls):
        return cls((3, 2, 2)), (4, 3, 2, 2)

    def _forward(self, x, training):
        if tuple(x.shape[1:]) != self.normalized_shape:
            raise ValueError(f"{self!r}: expected input shape (N, {', '.join(map(str, self.normalized_shape))}), "
                             f"received {tuple(x.shape)}")
        xp = B.get_backend()
        x2 = x.reshape(x.shape[0], -1)
        centred = x2 - x2.mean(axis=1, keepdims=True)
        r = 1.0 / xp.sqrt((centred * centred).mean(axis=1, keepdims=True) + self.eps)
        xhat = centred * r
        y = xhat * self.weight.data.reshape(1, -1) + self.bias.data.reshape(1, -1)
        return y.reshape(x.shape), (xhat, r, x.shape)

    @staticmethod
    def _project(a, xhat):
        r"""The class docstring's symmetric $\Pi$ applied to each sample (row) of `a`.

        That is `a - mean(a) - xhat * mean(a * xhat)`, the means over the row."""
        return a - a.mean(axis=1, keepdims=True) - xhat * (a * xhat).mean(axis=1, keepdims=True)

    def _backward(self, grad_out, cache):
        xhat, r, shape = cache
        g = grad_out.reshape(shape[0], -1)
        if self.requires_grad:
            self.weight.grad += (g * xhat).sum(axis=0).reshape(self.normalized_shape)
            self.bias.grad += K.channel_sum(g).reshape(self.normalized_shape)
        if not self.input_grad:
            return None
        return (r * self._project(g * self.weight.data.reshape(1, -1), xhat)).reshape(shape)

    def _double_backward(self, ggx, grad_out, cache):
        xhat, r, shape = cache
        gamma = self.weight.data.reshape(1, -1)
        g, v = grad_out.reshape(shape[0], -1), ggx.reshape(shape[0], -1)
        h = g * gamma
        pv, ph = self._project(v, xhat), self._project(h, xhat)
        rpv = r * pv
        if self.requires_grad:
            self.weight.grad += (g * rpv).sum(axis=0).reshape(self.normalized_shape)
        m = xhat.shape[1]
        dot = lambda a, b: (a * b).sum(axis=1, keepdims=True)  # noqa: E731
        gx = (-(r * r) / m) * (xhat * dot(h, pv) + ph * dot(v, xhat) + pv * dot(h, xhat))
        return (gamma * rpv).reshape(shape), gx.reshape(shape)

    def __repr__(self) -> str:
        return f"LayerNorm({self.normalized_shape})"
