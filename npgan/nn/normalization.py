"""Normalisation layers: BatchNorm (over the batch, per channel) and LayerNorm (per sample)."""

from __future__ import annotations

from .. import backend as B
from .im2col import integer
from .module import Layer, Parameter


class BatchNorm(Layer):
    r"""Normalise each channel over the batch (and spatial positions), then scale and shift.

    Shapes: x (N, C) or (N, C, H, W); gamma = ``weight`` (C,), beta = ``bias`` (C,);
    y like x. Statistics are taken over the m = N (or N*H*W) values of each channel.

    Forward, training::

        mu    = mean(x)                 var = mean((x - mu)^2)     (biased, over m values)
        xhat  = (x - mu) / sqrt(var + eps)
        y     = gamma * xhat + beta
        running_mean <- (1 - momentum) * running_mean + momentum * mu
        running_var  <- (1 - momentum) * running_var  + momentum * var * m / (m - 1)

    (PyTorch's rule: the running variance is updated with the *unbiased* estimate.)

    Forward, eval: the same with mu, var replaced by running_mean, running_var.

    Backward, given G = dL/dy and istd = 1 / sqrt(var + eps)::

        dL/dgamma = sum(G * xhat)          dL/dbeta = sum(G)         (sums over m values)
        training: mu and var depend on x, so with D = G * gamma
            dL/dx = istd / m * (m * D - sum(D) - xhat * sum(D * xhat))
                  = gamma * istd * (G - mean(G) - xhat * mean(G * xhat))
        eval: mu and var are constants
            dL/dx = G * gamma * istd

    The second form of the training gradient reuses the two sums dL/dbeta and
    dL/dgamma already computed (sum(D) = gamma * sum(G), sum(D * xhat) =
    gamma * sum(G * xhat)), so the whole backward pass is two sums over G
    and four elementwise passes.

    How the code runs it (speed, not math):

    * memory layout: a convolution's output is channels-last in memory (see
      ``npgan.nn.im2col``); the layer works in whichever layout x has, NCHW or
      channels-last, and returns y and dL/dx in that same layout, so no pass
      walks an array against its strides;
    * rows: the arrays are seen as (N, C*L) rows (L = H*W), and each per-channel
      vector (mu, istd, gamma, ...) is laid out once as a (C*L,) row in the same
      order, so every elementwise pass runs over long contiguous rows instead of
      broadcasting a (C, 1) column (faster: benchmarks/RESULTS.md);
    * sums: the per-channel sums are ``einsum`` contractions (no temporary for
      G * xhat; twice as fast as ``sum(axis=(0, 2))``);
    * threads: on big batches the sums and the passes are split over the batch
      between threads (``backend.parallel_map``), partial sums added after.

    Cache: xhat (in the rows layout), istd, the mode, x's shape and layout.
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

    @staticmethod
    def _channels_last(x) -> bool:
        """Is x an NCHW view of channels-last memory (a convolution's output)?"""
        return x.ndim == 4 and not x.flags.c_contiguous and x.transpose(0, 2, 3, 1).flags.c_contiguous

    def _views(self, a, channels_last: bool):
        """(a3, rows): ``a`` as a 3-D array for the per-channel sums, (N, C, L) or, channels-last,
        (N, L, C); and the same memory as (N, C*L) rows for the elementwise passes (L = H*W, or
        1 for (N, C)). Views of ``a`` when it is in that layout, else one copy into it."""
        n, c = a.shape[0], self.num_features
        if channels_last:
            rows = a.transpose(0, 2, 3, 1).reshape(n, -1)
            return rows.reshape(n, -1, c), rows
        rows = B.get_backend().ascontiguousarray(a).reshape(n, -1)
        return rows.reshape(n, c, -1), rows

    @staticmethod
    def _row(v, size: int, channels_last: bool):
        """A per-channel (C,) vector laid out like one sample's (C*L,) row, so each
        elementwise pass runs over long contiguous rows instead of broadcasting a
        (C, 1) column over (N, C, L)."""
        xp = B.get_backend()
        k = size // v.shape[0]
        return xp.tile(v, k) if channels_last else xp.repeat(v, k)

    @staticmethod
    def _unrows(rows, shape, channels_last: bool):
        """(N, C*L) rows back to ``shape``, as a view of the same memory."""
        if channels_last:
            n, c, h, w = shape
            return rows.reshape(n, h, w, c).transpose(0, 3, 1, 2)
        return rows.reshape(shape)

    @staticmethod
    def _sum(fn, n: int, work: int):
        """Per-channel sums: ``fn(lo, hi)`` on slices of the batch split between threads
        (``backend.parallel_map``), the partial sums then added up."""
        parts = B.parallel_map(fn, n, work, min_work=B.elementwise_min_work())
        if isinstance(parts[0], tuple):
            return tuple(sum(p[k] for p in parts) for k in range(len(parts[0])))
        return sum(parts)

    def forward(self, x, training=None):
        self._check_input(x, ndim=(2, 4), channels=self.num_features)
        training = self._mode(training)
        xp = B.get_backend()
        last = self._channels_last(x)
        x3, x2 = self._views(x, last)
        n, size, m = x.shape[0], x2.shape[1], x.size // self.num_features
        spec = "nlc" if last else "ncl"                    # einsum names of x3's axes
        row = lambda v: self._row(v, size, last)  # noqa: E731
        if training and m < 2:
            raise ValueError(f"{self!r}: training needs more than 1 value per channel, "
                             f"received input shape {tuple(x.shape)}")
        xhat, y = xp.empty_like(x2), xp.empty_like(x2)     # (N, C*L)
        xhat3 = xhat.reshape(x3.shape)

        def centre(lo, hi):                                 # xhat = x - mu; sum((x - mu)^2)
            xp.subtract(x2[lo:hi], mu_row, out=xhat[lo:hi])
            return xp.einsum(f"{spec},{spec}->c", xhat3[lo:hi], xhat3[lo:hi])

        if training:
            mu = self._sum(lambda lo, hi: xp.einsum(f"{spec}->c", x3[lo:hi]), n, x.size) / m
            mu_row = row(mu)
            var = self._sum(centre, n, x.size) / m
            mom = self.momentum
            self.running_mean = (1 - mom) * self.running_mean + mom * mu
            self.running_var = (1 - mom) * self.running_var + mom * var * (m / (m - 1))
        else:
            mu, var = self.running_mean, self.running_var
            mu_row = row(mu)
        istd = 1.0 / xp.sqrt(var + self.eps)
        istd_row, gamma_row, beta_row = row(istd), row(self.weight.data), row(self.bias.data)

        def normalise(lo, hi):                              # xhat *= istd; y = gamma xhat + beta
            d, out = xhat[lo:hi], y[lo:hi]
            if not training:
                xp.subtract(x2[lo:hi], mu_row, out=d)
            d *= istd_row
            xp.multiply(d, gamma_row, out=out)
            out += beta_row

        B.parallel_for(normalise, n, x.size, min_work=B.elementwise_min_work())
        self._cache = (xhat, istd, training, x.shape, last)
        return self._unrows(y, x.shape, last)

    def backward(self, grad_out):
        xhat, istd, training, shape, last = self._cached()
        self._check_grad(grad_out, shape)
        xp = B.get_backend()
        n, size, m = xhat.shape[0], xhat.shape[1], xhat.size // self.num_features
        g3, g2 = self._views(grad_out, last)  # G in xhat's layout (a view when it already is)
        xhat3 = xhat.reshape(g3.shape)
        spec = "nlc" if last else "ncl"                    # einsum names of x3's axes
        row = lambda v: self._row(v, size, last)  # noqa: E731
        if training or self.requires_grad:
            sum_gx, sum_g = self._sum(                      # dL/dgamma, dL/dbeta
                lambda lo, hi: (xp.einsum(f"{spec},{spec}->c", g3[lo:hi], xhat3[lo:hi]),
                                xp.einsum(f"{spec}->c", g3[lo:hi])), n, xhat.size)
            if self.requires_grad:
                self.weight.grad += sum_gx
                self.bias.grad += sum_g
        if not self.input_grad:
            return None
        scale_row = row(self.weight.data * istd)            # gamma * istd
        if training:
            mean_gx_row, mean_g_row = row(sum_gx / m), row(sum_g / m)
        dx = xp.empty_like(xhat)

        def input_grad(lo, hi):
            d, g = dx[lo:hi], g2[lo:hi]
            if not training:                                # G * gamma * istd
                xp.multiply(g, scale_row, out=d)
                return
            xp.multiply(xhat[lo:hi], mean_gx_row, out=d)    # xhat * mean(G * xhat)
            d += mean_g_row                                 # + mean(G)
            xp.subtract(g, d, out=d)                        # G - mean(G) - xhat * mean(G xhat)
            d *= scale_row                                  # times gamma * istd

        B.parallel_for(input_grad, n, xhat.size, min_work=B.elementwise_min_work())
        return self._unrows(dx, shape, last)

    def second_order_refusal(self):
        return ("BatchNorm mixes the samples of a batch through its statistics, so a sample's "
                "input gradient is not what a gradient penalty means; use LayerNorm in a "
                "penalised critic (as the WGAN-GP paper does)")

    def __repr__(self) -> str:
        return f"BatchNorm({self.num_features})"


class LayerNorm(Layer):
    r"""Layer normalisation (Ba et al. 2016): each sample normalised over its own features.

    Shapes: x (N, *S) with S = ``normalized_shape`` (e.g. (C, H, W), or (F,)); weight
    gamma and bias beta of shape S (PyTorch's ``nn.LayerNorm`` with its elementwise
    affine); y like x. Per sample, over its M = prod(S) values::

        mu = mean(x)     var = mean((x - mu)^2)     r = 1 / sqrt(var + eps)
        xhat = (x - mu) * r                         y = gamma * xhat + beta

    No statistic mixes the samples of a batch, so D(x_i) depends on x_i alone: the
    normaliser of choice for a critic under a gradient penalty (Gulrajani et al. 2017).

    Backward, with G = dL/dy, h = gamma * G and, for any a of a sample's shape,
    P(a) = a - mean(a) - xhat * mean(a * xhat) (means over the sample's M values)::

        dL/dx = r * P(h)
        dL/dgamma = sum_n G * xhat         dL/dbeta = sum_n G

    Double backward (a penalty P of dx; v = ggx = dP/d(dx), per sample). Since
    <v, r P(h)> = r <h, P(v)> (P is self-adjoint) and d xhat/dx = r (I - 11^T/M - xhat xhat^T/M)::

        dP/dG     = gamma * r * P(v)
        dP/dgamma = sum_n G * r * P(v)
        dP/dx     = -(r^2 / M) * ( xhat <h, P(v)> + P(h) <v, xhat> + P(v) <h, xhat> )

    with <a, b> the sum over a sample's M values. Cache: xhat (N, M), r (N, 1).
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

    def forward(self, x, training=None):
        self._check_input(x)
        if tuple(x.shape[1:]) != self.normalized_shape:
            raise ValueError(f"{self!r}: expected input shape (N, {', '.join(map(str, self.normalized_shape))}), "
                             f"received {tuple(x.shape)}")
        xp = B.get_backend()
        x2 = x.reshape(x.shape[0], -1)
        centred = x2 - x2.mean(axis=1, keepdims=True)
        r = 1.0 / xp.sqrt((centred * centred).mean(axis=1, keepdims=True) + self.eps)
        xhat = centred * r
        self._cache = (xhat, r, x.shape)
        return (xhat * self.weight.data.reshape(1, -1) + self.bias.data.reshape(1, -1)).reshape(x.shape)

    @staticmethod
    def _project(a, xhat):
        """P(a) = a - mean(a) - xhat * mean(a * xhat), per sample (rows)."""
        return a - a.mean(axis=1, keepdims=True) - xhat * (a * xhat).mean(axis=1, keepdims=True)

    def backward(self, grad_out):
        xhat, r, shape = self._cached()
        self._check_grad(grad_out, shape)
        g = grad_out.reshape(shape[0], -1)
        if self.requires_grad:
            self.weight.grad += (g * xhat).sum(axis=0).reshape(self.normalized_shape)
            self.bias.grad += g.sum(axis=0).reshape(self.normalized_shape)
        if not self.input_grad:
            return None
        return (r * self._project(g * self.weight.data.reshape(1, -1), xhat)).reshape(shape)

    def double_backward(self, ggx, grad_out):
        xhat, r, shape = self._forward_cache()
        self._check_second(ggx, grad_out, shape, shape)
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
