r"""Spectral normalisation (Miyato et al. 2018): a wrapper that divides a layer's weight by
its largest singular value before every use."""

from __future__ import annotations

from .. import backend as B
from .conv import Conv2D, ConvTranspose2D
from .dense import Dense
from .im2col import integer
from .module import Layer


def _normalize(a, eps):
    r"""$a / \max(\lVert a \rVert, \varepsilon)$, as PyTorch's `F.normalize`."""
    xp = B.get_backend()
    return a / xp.maximum(xp.linalg.norm(a), eps)


class SpectralNorm(Layer):
    r"""A `Dense`, `Conv2D` or `ConvTranspose2D` whose weight is used as $W_{SN} = W / \sigma(W)$,
    with $\sigma(W)$ the largest singular value of $W$'s matrix view.

    A discriminator built of such layers is (about) 1-Lipschitz per layer: the constraint of
    Miyato et al. (2018), *Spectral Normalization for Generative Adversarial Networks*.

    **What is trained.** The wrapped layer keeps its own `weight` (the unnormalised $W$) and
    `bias`; they are this layer's parameters (`layer.weight`, `layer.bias`) and receive the
    gradients. The bias is not normalised. The wrapper adds one buffer, `u` (saved in
    `state_dict` and checkpoints, never trained).

    **Matrix view** $M$ of the weight, `(out, rest)`, output index first, the same as PyTorch's
    `spectral_norm` (so that `u` has the same length and meaning):

    * `Dense`: weight `(in, out)`, $M = W^\top$ `(out, in)` (PyTorch's `nn.Linear` weight);
    * `Conv2D`: weight `(O, C, K, K)`, $M$ = the weight reshaped to `(O, C*K*K)`;
    * `ConvTranspose2D`: weight `(C, O, K, K)`, $M$ = the weight with its axes 0 and 1 swapped,
      reshaped to `(O, C*K*K)` (PyTorch's `dim=1`).

    For `Dense`, $\sigma(M) = \sigma(W)$ (a transpose keeps singular values) is the layer's
    Lipschitz constant. For the convolutions it is the convention of the paper and of PyTorch,
    not the operator norm of the convolution as a map of images (a reshape to `(C, O*K*K)`
    would give other singular values): cheap, and what DCGAN-sized critics are trained with.

    **Power iteration.** $u$ (length `out`) is drawn from npgan's seeded generator at
    construction and normalised. In training mode every forward pass runs
    `n_power_iterations` steps,

    $$
    v \leftarrow \frac{M^\top u}{\lVert M^\top u \rVert}, \qquad
    u \leftarrow \frac{M v}{\lVert M v \rVert},
    $$

    keeps the new $u$ in the buffer (so one step per training iteration suffices: $u$ follows
    $W$ as it changes slowly), and estimates $\sigma = u^\top M v$. In evaluation mode $u$ is
    left as it is, $v = M^\top u / \lVert M^\top u \rVert$, and
    $\sigma = u^\top M v = \lVert M^\top u \rVert$. ($\varepsilon$ = `eps` guards the
    divisions.) For a $u$ with a component along the top left singular vector, repeated
    steps converge to it and $\sigma$ to the largest singular value.

    **Forward.** $W_{SN} = W/\sigma$, then the wrapped layer's own forward pass with
    $W_{SN}$: the code puts $W_{SN}$ into `layer.weight.data` for the call and puts $W$ back
    afterwards (`_inner`), so the layer's math is reused and not copied. Cache: $W_{SN}$,
    $\sigma$, $u$, $v$.

    **Backward.** The wrapped layer's backward pass, again run with $W_{SN}$ in place and a
    zeroed gradient, returns $\bar x$ and yields $\bar W_{SN} = \partial L/\partial W_{SN}$
    (its bias gradient goes into `bias.grad` directly). What remains is the map from
    $\bar W_{SN}$ to $\bar W$. As in the paper and PyTorch, $u$ and $v$ are constants (no
    gradient flows through the power iteration), so in the matrix view

    $$
    \sigma = u^\top M v = \sum_{i,j} u_i M_{ij} v_j
    \quad\Longrightarrow\quad
    \frac{\partial \sigma}{\partial M_{ij}} = u_i v_j, \qquad
    \mathrm d\sigma = \langle u v^\top, \mathrm dM \rangle .
    $$

    (In evaluation mode $v$ depends on $M$, but $\sigma = \lVert M^\top u \rVert$ has exactly
    this derivative: $\mathrm d \lVert M^\top u \rVert = v^\top \mathrm dM^\top u$. So there
    the gradient is exact, which is what the gradient checks test.) By the quotient rule,
    $M_{SN} = M/\sigma$ changes by

    $$
    \mathrm dM_{SN} = \frac{\mathrm dM}{\sigma} - \frac{M\, \mathrm d\sigma}{\sigma^2}
                    = \frac{1}{\sigma}\bigl(\mathrm dM - M_{SN}\, \langle u v^\top, \mathrm dM \rangle\bigr),
    $$

    and the chain rule, $\mathrm dL = \langle \bar M_{SN}, \mathrm dM_{SN} \rangle$, moves
    everything onto $\mathrm dM$:

    $$
    \mathrm dL = \frac{1}{\sigma}\Bigl(\langle \bar M_{SN}, \mathrm dM \rangle
                 - \langle \bar M_{SN}, M_{SN} \rangle\, \langle u v^\top, \mathrm dM \rangle\Bigr)
    \quad\Longrightarrow\quad
    \bar M = \frac{1}{\sigma}\bigl(\bar M_{SN} - \langle \bar M_{SN}, M_{SN} \rangle\, u v^\top\bigr),
    $$

    the paper's eq. (12). The inner product $\langle \bar M_{SN}, M_{SN} \rangle$ is a sum
    over all entries, the same in any view; so the code computes it on the weights as stored
    and maps only $u v^\top$ back from the matrix view to the weight's shape (`_unmatrix`).
    $\bar W$ is added into `layer.weight.grad`.

    **Double backward** (a gradient penalty $P$ of $\bar x$). The wrapped layer's
    `double_backward`, run with $W_{SN}$ in place, returns $\tilde{\bar y}$ and $\tilde x$
    and yields $\tilde W_{SN} = \partial P/\partial W_{SN}$. $\bar x$ depends on $W$ only
    through $W_{SN}$, and $W_{SN}$ is the same function of $W$ as above ($u$, $v$ constants),
    so $\mathrm dP = \langle \tilde M_{SN}, \mathrm dM_{SN} \rangle$ and the same steps give

    $$
    \tilde M = \frac{1}{\sigma}\bigl(\tilde M_{SN} - \langle \tilde M_{SN}, M_{SN} \rangle\, u v^\top\bigr),
    $$

    added into `layer.weight.grad`. $\tilde{\bar y}$ and $\tilde x$ (`None`: the wrapped layers
    are linear in $x$) pass through unchanged.
    """

    def __init__(self, layer, n_power_iterations: int = 1, eps: float = 1e-12):
        super().__init__()
        if not isinstance(layer, (Dense, Conv2D, ConvTranspose2D)):
            raise ValueError(f"SpectralNorm wraps a Dense, Conv2D or ConvTranspose2D layer, "
                             f"not {type(layer).__name__}")
        n = integer(n_power_iterations, "SpectralNorm: n_power_iterations")
        if n < 1 or not eps > 0:
            raise ValueError(f"SpectralNorm: n_power_iterations must be >= 1 and eps > 0, got {n}, {eps}")
        self.layer = layer
        self.n_power_iterations, self.eps = int(n), float(eps)
        w = layer.weight.data
        out = self._matrix(w).shape[0]
        self.register_buffer("u", _normalize(B.normal((out,), dtype=w.dtype), self.eps))

    @classmethod
    def example(cls):
        """In evaluation mode, which holds u fixed: the power iteration is not differentiated, so
        only then is the layer a fixed function of x and W for a gradient check."""
        return cls(Conv2D(2, 3, 3)).eval(), (2, 2, 5, 5)

    # -- the matrix view ---------------------------------------------------------------
    def _matrix(self, w):
        """The weight as `(out, rest)` (see the class docstring)."""
        if isinstance(self.layer, Dense):
            return w.T
        if isinstance(self.layer, ConvTranspose2D):
            w = w.transpose(1, 0, 2, 3)
        return w.reshape(w.shape[0], -1)

    def _unmatrix(self, m, shape):
        """The inverse of `_matrix`: an `(out, rest)` matrix back in the weight's `shape`."""
        if isinstance(self.layer, Dense):
            return m.T
        if isinstance(self.layer, ConvTranspose2D):
            c, o, kh, kw = shape
            return m.reshape(o, c, kh, kw).transpose(1, 0, 2, 3)
        return m.reshape(shape)

    def _sigma(self, w, training: bool):
        """(u, v, sigma) for weight `w`: power iteration from the buffer `u` in training mode."""
        m, u = self._matrix(w), self.u
        if training:
            for _ in range(self.n_power_iterations):
                v = _normalize(m.T @ u, self.eps)
                u = _normalize(m @ v, self.eps)
        else:
            v = _normalize(m.T @ u, self.eps)
        return u, v, u @ (m @ v)

    def sigma(self):
        """The current estimate of the weight's largest singular value (no iteration)."""
        return float(self._sigma(self.layer.weight.data, training=False)[2])

    # -- passes --------------------------------------------------------------------------
    def _inner(self, w_sn, call, *args):
        """`call(*args)` with the wrapped layer's weight holding $W_{SN}$ and a zeroed gradient;
        returns (its result, the gradient it added for $W_{SN}$). $W$ and its `.grad` are put back."""
        p = self.layer.weight
        w, grad = p.data, p.grad
        p.data, p.grad = w_sn, B.get_backend().zeros_like(w)
        try:
            out = call(*args)
            return out, p.grad
        finally:
            p.data, p.grad = w, grad

    def _add_weight_grad(self, g_sn):
        r"""Add $\bar W = (\bar W_{SN} - \langle \bar W_{SN}, W_{SN} \rangle\, u v^\top) / \sigma$."""
        w_sn, sigma, u, v = self._forward_cache()
        outer = self._unmatrix(u[:, None] * v[None, :], w_sn.shape)
        self.layer.weight.grad += (g_sn - (g_sn * w_sn).sum() * outer) / sigma

    def forward(self, x, training=None):
        w = self.layer.weight.data
        u, v, sigma = self._sigma(w, self._mode(training))
        w_sn = w / sigma
        y, _ = self._inner(w_sn, self.layer.forward, x, training)
        if self._mode(training):
            self.u = u  # only after the wrapped layer accepted x
        self._cache = (w_sn, sigma, u, v)
        return y

    def backward(self, grad_out):
        w_sn = self._cached()[0]
        dx, g_sn = self._inner(w_sn, self.layer.backward, grad_out)
        if self.layer.requires_grad:
            self._add_weight_grad(g_sn)
        return dx

    def double_backward(self, ggx, grad_out):
        w_sn = self._forward_cache()[0]
        (gg_out, gx), g_sn = self._inner(w_sn, self.layer.double_backward, ggx, grad_out)
        if self.layer.requires_grad:
            self._add_weight_grad(g_sn)
        return gg_out, gx

    def second_order_refusal(self):
        return self.layer.second_order_refusal()

    def _input_side(self) -> list:
        return [self] + self.layer._input_side()

    def __repr__(self) -> str:
        return f"SpectralNorm({self.layer!r})"
