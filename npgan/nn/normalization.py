"""Batch normalisation (Ioffe & Szegedy 2015) on (N, C) and (N, C, H, W) inputs."""

from __future__ import annotations

from .. import backend as B
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
    gamma * sum(G * xhat)), so the whole backward pass is three passes over G
    plus three elementwise ones.

    Cache: xhat, istd and the mode.
    """

    _params = ("weight", "bias")
    _buffers = ("running_mean", "running_var")

    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        xp = B.get_backend()
        self.num_features = int(num_features)
        self.momentum, self.eps = float(momentum), float(eps)
        dt = B.get_dtype()
        self.weight = Parameter(xp.ones(self.num_features, dtype=dt), "weight")
        self.bias = Parameter(xp.zeros(self.num_features, dtype=dt), "bias")
        self.running_mean = xp.zeros(self.num_features, dtype=dt)
        self.running_var = xp.ones(self.num_features, dtype=dt)

    @staticmethod
    def _axes(x):
        return (0,) if x.ndim == 2 else (0, 2, 3)

    def _bcast(self, v, ndim):
        return v.reshape((1, -1) if ndim == 2 else (1, -1, 1, 1))

    def forward(self, x, training: bool = True):
        self._check_input(x, ndim=(2, 4), channels=self.num_features)
        axes = self._axes(x)
        m = x.size // self.num_features
        if training:
            if m < 2:
                raise ValueError(f"{self!r}: training needs more than 1 value per channel, "
                                 f"received input shape {tuple(x.shape)}")
            mu = x.mean(axis=axes)
            xhat = x - self._bcast(mu, x.ndim)          # centred; scaled in place below
            var = (xhat * xhat).mean(axis=axes)
            mom = self.momentum
            self.running_mean = (1 - mom) * self.running_mean + mom * mu
            self.running_var = (1 - mom) * self.running_var + mom * var * (m / (m - 1))
        else:
            mu, var = self.running_mean, self.running_var
            xhat = x - self._bcast(mu, x.ndim)
        istd = 1.0 / B.get_backend().sqrt(var + self.eps)
        xhat *= self._bcast(istd, x.ndim)
        self._cache = (xhat, istd, training)
        y = xhat * self._bcast(self.weight.data, x.ndim)
        y += self._bcast(self.bias.data, x.ndim)
        return y

    def backward(self, grad_out):
        xhat, istd, training = self._cached()
        self._check_grad(grad_out, xhat.shape)
        axes, nd = self._axes(xhat), xhat.ndim
        scale = self._bcast(self.weight.data * istd, nd)       # gamma * istd, per channel
        if not training and not self.requires_grad:
            return grad_out * scale
        sum_gx = (grad_out * xhat).sum(axis=axes)               # dL/dgamma
        sum_g = grad_out.sum(axis=axes)                         # dL/dbeta
        if self.requires_grad:
            self.weight.grad += sum_gx
            self.bias.grad += sum_g
        if not training:
            return grad_out * scale
        m = xhat.size // self.num_features
        dx = xhat * self._bcast(sum_gx / m, nd)                 # xhat * mean(G * xhat)
        dx += self._bcast(sum_g / m, nd)                        # + mean(G)
        xp = B.get_backend()
        xp.subtract(grad_out, dx, out=dx)                       # G - mean(G) - xhat * mean(G xhat)
        dx *= scale
        return dx

    def __repr__(self) -> str:
        return f"BatchNorm({self.num_features})"
