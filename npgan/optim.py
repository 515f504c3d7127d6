r"""Optimisers: SGD (momentum, Nesterov) and Adam, with PyTorch's exact update rules.

Both read `p.grad` and update `p.data` in place, one parameter array at a time,
writing into preallocated state buffers (`out=`) so a step allocates little.

For a parameter $\theta$ with gradient $\bar\theta = \partial L/\partial\theta$ (`p.grad`),
`weight_decay` $\lambda$ is L2 regularisation added to the gradient, as in
`torch.optim.SGD` / `torch.optim.Adam` (not AdamW's decoupled decay):

$$
g = \bar\theta + \lambda\,\theta = \frac{\partial}{\partial\theta}\Bigl(L + \frac{\lambda}{2}\|\theta\|^2\Bigr).
$$

Each class's docstring gives its update of $\theta$ from $g$.
"""

from __future__ import annotations

import math
import numbers

from . import backend as B
from . import kernels as K


class Optimizer:
    _lazy_state = False  # True where a state buffer is created on the first step (SGD)

    def __init__(self, params, lr: float):
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: received an empty parameter list")
        # any real number (a NumPy scalar too), but not a bool or an array
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"{type(self).__name__}: lr must be a positive number, got {lr!r}")
        self.lr = float(lr)
        self.t = 0  # steps taken

    def zero_grad(self) -> None:
        for p in self.params:
            p.zero_grad()

    def _slots(self):  # names of per-parameter state buffers
        return ()

    def state_dict(self) -> dict:
        """Step count and every state buffer, as host arrays: `{"t": ..., "m.0": ..., ...}`."""
        out = {"t": B.host.asarray(self.t)}
        for slot in self._slots():
            for i, buf in enumerate(getattr(self, slot)):
                if buf is not None:
                    out[f"{slot}.{i}"] = B.to_numpy(buf, copy=True)
        return out

    def load_state_dict(self, state: dict) -> None:
        self.t = int(state["t"])
        for slot in self._slots():
            bufs = getattr(self, slot)
            for i, p in enumerate(self.params):
                key = f"{slot}.{i}"
                if key in state:
                    if tuple(state[key].shape) != tuple(p.data.shape):
                        raise ValueError(f"{type(self).__name__}.load_state_dict: key {key!r} "
                                         f"expects shape {tuple(p.data.shape)}, received "
                                         f"{tuple(state[key].shape)}")
                    bufs[i] = B.asarray(state[key], dtype=p.data.dtype, copy=True)
                elif self._lazy_state:
                    bufs[i] = None
                else:
                    raise KeyError(f"{type(self).__name__}.load_state_dict: missing key {key!r}")


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional (Nesterov) momentum, as `torch.optim.SGD` (dampening 0).

    At step $t = 1, 2, \dots$, with learning rate $\eta$ (`lr`), momentum $\mu$ (`momentum`,
    default 0), weight decay $\lambda$ (`weight_decay`, default 0) and the gradient
    $\bar\theta_t$ read from `p.grad`:

    $$
    \begin{aligned}
    g_t &= \bar\theta_t + \lambda\,\theta_{t-1}, \\
    b_t &= \begin{cases} g_t & t = 1, \\ \mu\, b_{t-1} + g_t & t > 1, \end{cases} \\
    d_t &= \begin{cases} g_t + \mu\, b_t & \text{Nesterov}, \\ b_t & \text{plain momentum}, \end{cases} \\
    \theta_t &= \theta_{t-1} - \eta\, d_t.
    \end{aligned}
    $$

    The momentum buffer $b$ is created on the first step. With $\mu = 0$ there is no
    buffer and this is plain $\theta_t = \theta_{t-1} - \eta\, g_t$. `nesterov=True` needs
    $\mu > 0$; a negative momentum or weight decay is refused.
    """

    _lazy_state = True

    def __init__(self, params, lr: float, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        super().__init__(params, lr)
        if not (0 <= momentum < math.inf) or not (0 <= weight_decay < math.inf):
            raise ValueError(f"SGD: momentum and weight_decay must be >= 0, got {momentum} and {weight_decay}")
        if nesterov and momentum <= 0:
            raise ValueError("SGD: nesterov needs momentum > 0")
        self.momentum, self.nesterov, self.weight_decay = float(momentum), nesterov, float(weight_decay)
        self.buf = [None] * len(self.params)

    def _slots(self):
        return ("buf",)

    def step(self) -> None:
        self.t += 1
        mu = self.momentum
        for i, p in enumerate(self.params):
            g = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
            if mu:
                if self.buf[i] is None:
                    self.buf[i] = g.copy()
                else:
                    self.buf[i] *= mu
                    self.buf[i] += g
                g = g + mu * self.buf[i] if self.nesterov else self.buf[i]
            p.data -= self.lr * g


class Adam(Optimizer):
    r"""Adam (Kingma & Ba 2015) with bias correction, as in `torch.optim.Adam`.

    At step $t = 1, 2, \dots$, with learning rate $\eta$ (`lr`, default $10^{-3}$),
    $(\beta_1, \beta_2)$ (`betas`, default $(0.9, 0.999)$, each in $[0, 1)$), $\epsilon$
    (`eps`, default $10^{-8}$, positive), weight decay $\lambda$ (`weight_decay`, default 0),
    the gradient $\bar\theta_t$ read from `p.grad`, and $m_0 = v_0 = 0$:

    $$
    \begin{aligned}
    g_t &= \bar\theta_t + \lambda\,\theta_{t-1}, \\
    m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \\
    v_t &= \beta_2 v_{t-1} + (1 - \beta_2)\, g_t \odot g_t, \\
    \hat m_t &= \frac{m_t}{1 - \beta_1^t}, \qquad \hat v_t = \frac{v_t}{1 - \beta_2^t}, \\
    \theta_t &= \theta_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}
    \end{aligned}
    $$

    (square root and division elementwise; $\epsilon$ is added after the bias correction,
    as PyTorch does).

    **Why the bias correction.** Unrolling the recursion from $m_0 = 0$,

    $$
    m_t = (1 - \beta_1) \sum_{\tau=1}^{t} \beta_1^{t-\tau} g_\tau,
    $$

    whose weights sum to $(1 - \beta_1)(1 + \beta_1 + \dots + \beta_1^{t-1}) = 1 - \beta_1^t$.
    For a constant gradient $g$, $m_t = (1 - \beta_1^t)\, g$: a zero-initialised average is
    biased towards 0 early on, and dividing by $1 - \beta_1^t$ makes $\hat m_t = g$. The
    same holds for $v_t$ and $g \odot g$ with $\beta_2$.

    The code applies the last line in the equivalent form

    $$
    \theta_t = \theta_{t-1} - \frac{\eta}{1 - \beta_1^t} \cdot \frac{m_t}{\sqrt{v_t} / \sqrt{1 - \beta_2^t} + \epsilon}.
    $$

    DCGAN's recipe is $\eta = 2 \times 10^{-4}$, $(\beta_1, \beta_2) = (0.5, 0.999)$.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, lr)
        b1, b2 = betas
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"Adam: betas must be in [0, 1), got {betas}")
        if not (0 < eps < math.inf) or not (0 <= weight_decay < math.inf):
            raise ValueError(f"Adam: eps must be positive and weight_decay >= 0, got {eps} and {weight_decay}")
        self.betas, self.eps, self.weight_decay = (float(b1), float(b2)), float(eps), float(weight_decay)
        xp = B.get_backend()
        self.m = [xp.zeros_like(p.data) for p in self.params]
        self.v = [xp.zeros_like(p.data) for p in self.params]

    def _slots(self):
        return ("m", "v")

    def step(self) -> None:
        r"""One update of every parameter: the class docstring's last form, with
        $\eta / (1 - \beta_1^t)$ = `step_size` and $1 / \sqrt{1 - \beta_2^t}$ = `inv_bc2`
        (`npgan.kernels.adam_update`, which updates block by block in cache on NumPy)."""
        self.t += 1
        b1, b2 = self.betas
        step_size = self.lr / (1 - b1 ** self.t)
        inv_bc2 = 1.0 / math.sqrt(1 - b2 ** self.t)
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
            K.adam_update(p.data, g, m, v, b1, b2, self.eps, step_size, inv_bc2)


def grad_norm(params):
    r"""Global L2 norm of the gradients, $\sqrt{\sum_\theta \sum_k \bar\theta_k^2}$.

    The sums run over the parameters $\theta$ and their elements $k$. A 0-d array of the
    current backend (`float()` reads it; on a GPU only then does the host wait)."""
    xp = B.get_backend()
    # a dot product per array: BLAS, no squared temporary
    return xp.sqrt(sum(xp.vdot(p.grad.ravel(), p.grad.ravel()) for p in params))
