r"""Check a backward pass against central differences, the way a student would by hand.

`gradcheck` checks a layer's `backward` for its input and every parameter through a random
scalar probe, `double_gradcheck` its `double_backward`, and `gradcheck_loss` a loss's
gradient. They share `numerical_gradient`, the central difference (whose docstring derives
its accuracy, and why the checks insist on float64), and `compare`, the error measure they
report. Each function's docstring derives its part.

**Randomness.** The generator state is restored before every forward pass, so a Dropout
layer draws the same mask each time; BatchNorm's running statistics are restored
afterwards.

**Example.**

```python
from npgan import backend, nn
from npgan.gradcheck import gradcheck
backend.set_dtype("float64")
conv = nn.Conv2D(3, 4, kernel_size=3, stride=2, padding=1)
x = backend.normal((2, 3, 7, 7))
report = gradcheck(conv, x)
print(report)             # a table: tensor, shape, max abs / rel error, checked
assert report.ok(1e-6)
```
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import backend as B

SCALE_FLOOR = 1e-3  # see the module docstring


@dataclass
class TensorError:
    name: str
    shape: tuple
    max_abs: float
    max_rel: float
    checked: int


@dataclass
class GradcheckReport:
    """Per-tensor errors of one gradient check; `str()` gives a readable table."""

    target: str
    rows: list = field(default_factory=list)

    @property
    def max_rel(self) -> float:
        return max((r.max_rel for r in self.rows), default=0.0)

    @property
    def max_abs(self) -> float:
        return max((r.max_abs for r in self.rows), default=0.0)

    def ok(self, tol: float = 1e-6) -> bool:
        return self.max_rel < tol

    def __getitem__(self, name: str) -> TensorError:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)

    def __str__(self) -> str:
        lines = [f"gradient check of {self.target}",
                 f"{'tensor':<16}{'shape':<20}{'max abs err':>13}{'max rel err':>13}{'checked':>9}"]
        for r in self.rows:
            lines.append(f"{r.name:<16}{str(r.shape):<20}{r.max_abs:>13.2e}{r.max_rel:>13.2e}"
                         f"{r.checked:>9}")
        return "\n".join(lines)


def _require_float64(arr, what: str):
    if arr.dtype != B.host.float64:
        raise TypeError(f"gradcheck: {what} has dtype {arr.dtype.name}; gradient checks need "
                        f"float64 (call npgan.backend.set_dtype('float64') before building it)")


def _indices(size: int, max_checks, seed: int):
    """All flat indices, or a seeded random subset of `max_checks` of them."""
    if max_checks is None or size <= max_checks:
        return range(size)
    return B.host.random.default_rng(seed).choice(size, size=max_checks, replace=False).tolist()


def compare(name: str, analytic, numeric, checked: int) -> TensorError:
    r"""Summarise the gap between two gradients (only the checked entries are non-NaN in `numeric`).

    **Error measures**, per tensor, with $\alpha_k$ the analytic and $\nu_k$ the numerical
    gradient, over the checked entries $k$:

    $$
    \begin{aligned}
    \varepsilon_\text{abs} &= \max_k |\alpha_k - \nu_k|, \\
    \varepsilon_\text{rel} &= \frac{\varepsilon_\text{abs}}{\max\bigl(\max_k |\nu_k|,\ \max_k |\alpha_k|,\ 10^{-3}\bigr)},
    \end{aligned}
    $$

    reported as `max_abs` and `max_rel`. The floor $10^{-3}$ (`SCALE_FLOOR`) matters only for
    gradients that are (nearly) zero, such as the bias of a convolution followed by BatchNorm,
    whose gradient is exactly 0: there the numerical estimate is pure rounding noise (about
    $10^{-10}$) and dividing by it would report a 100% error for a correct pass.
    """
    a, n = B.to_numpy(analytic).ravel(), B.to_numpy(numeric).ravel()
    keep = ~B.host.isnan(n)
    a, n = a[keep], n[keep]
    max_abs = float(B.host.max(B.host.abs(a - n))) if a.size else 0.0
    scale = max(float(B.host.max(B.host.abs(n), initial=0.0)),
                float(B.host.max(B.host.abs(a), initial=0.0)), SCALE_FLOOR)
    max_rel = max_abs / scale
    return TensorError(name, tuple(analytic.shape), max_abs, max_rel, checked)


def numerical_gradient(f, v, eps: float = 1e-6, max_checks=None, seed: int = 0):
    r"""Central-difference gradient of the scalar function `f()` with respect to array `v`.

    `v` is perturbed in place (and restored), so `f` must read it. Entries not checked (when
    `max_checks` limits the count; a seeded random subset is checked) are NaN. Returns
    `(gradient, count)`.

    **Central differences.** Entry $k$ perturbs element $k$ of $v$ by $\pm h$, $h$ = `eps`,
    along the unit vector $e_k$. Expanding both perturbed values in Taylor series and
    subtracting,

    $$
    \begin{aligned}
    f(v \pm h e_k) &= f(v) \pm h\, \frac{\partial f}{\partial v_k} + \frac{h^2}{2}\, \frac{\partial^2 f}{\partial v_k^2}
    \pm \frac{h^3}{6}\, \frac{\partial^3 f}{\partial v_k^3} + O(h^4), \\
    \frac{f(v + h e_k) - f(v - h e_k)}{2h} &= \frac{\partial f}{\partial v_k}
    + \frac{h^2}{6}\, \frac{\partial^3 f}{\partial v_k^3} + O(h^4),
    \end{aligned}
    $$

    the even terms cancel: the truncation error is $O(h^2)$. Rounding adds
    $O(10^{-16} |f| / h)$ in float64 (each value of $f$ carries a relative error of about
    $10^{-16}$, and the difference is divided by $2h$). With $h = 10^{-6}$ a correct backward
    pass therefore agrees to about $10^{-9}$ relative error, while a wrong one is off by
    $O(1)$. float32 cannot resolve this: the checks insist on float64
    (`npgan.backend.set_dtype("float64")` before building the layer).
    """
    xp = B.get_backend()
    grad = xp.full(v.shape, float("nan"), dtype=v.dtype)
    flat, gflat = v.reshape(-1), grad.reshape(-1)
    idx = list(_indices(v.size, max_checks, seed))
    for i in idx:
        old = flat[i].item()
        flat[i] = old + eps
        f_plus = f()
        flat[i] = old - eps
        f_minus = f()
        flat[i] = old
        gflat[i] = (f_plus - f_minus) / (2 * eps)
    return grad, len(idx)


def gradcheck(layer, x, training: bool = True, eps: float = 1e-6, seed: int = 0,
              max_checks=None) -> GradcheckReport:
    r"""Check `layer.backward` for the input and every parameter at input `x`.

    **The scalar probe.** For the layer $y = f(x; \theta)$ the check draws a fixed random $r$
    of y's shape from a standard normal (with `seed`) and checks the scalar

    $$
    L = \langle y, r \rangle = \sum_k y_k\, r_k,
    $$

    so that $\bar y = \partial L/\partial y = r$: a random *direction* for the upstream
    gradient, as in Chainer's `gradient_check`. The analytic adjoints $\bar x$ and $\bar\theta$
    come from one `backward(r)`, the numerical ones from `numerical_gradient` of $L$ for
    every element of the input and of every parameter, and `compare` reports the gap.

    The layer's `.grad` arrays are left holding the analytic gradients of $L$. `max_checks`
    limits the entries checked per tensor (a seeded random subset) for big tensors. The input
    and every parameter must be float64.
    """
    _require_float64(x, "the input")
    for p in layer.parameters():
        _require_float64(p.data, f"parameter {p.name}")
    x = x.copy()
    rng_state = B.get_rng_state()
    buffers = [(name, a.copy()) for name, a in layer.named_buffers()]

    def run():
        B.set_rng_state(rng_state)
        return layer.forward(x, training=training)

    y = run()
    r = B.asarray(B.host.random.default_rng(seed).standard_normal(y.shape), dtype=y.dtype)

    def loss():
        return float((run() * r).sum())

    layer.zero_grad()
    dx = layer.backward(r)
    report = GradcheckReport(repr(layer))
    num, count = numerical_gradient(loss, x, eps, max_checks, seed)
    report.rows.append(compare("input", dx, num, count))
    return _check_parameters(report, layer, loss, eps, max_checks, seed, buffers, rng_state)


def _check_parameters(report, layer, f, eps, max_checks, seed, buffers, rng_state) -> GradcheckReport:
    """Every parameter's analytic `.grad` against central differences of f(); then restore the
    buffers and the random state the check started from."""
    for name, p in layer.named_parameters():
        analytic = p.grad.copy()
        num, count = numerical_gradient(f, p.data, eps, max_checks, seed)
        report.rows.append(compare(name, analytic, num, count))
    for name, saved in buffers:
        layer.set_buffer(name, saved)
    B.set_rng_state(rng_state)
    return report


def gradcheck_loss(loss_fn, logits, targets, eps: float = 1e-6, max_checks=None,
                   seed: int = 0) -> GradcheckReport:
    """Check a loss `loss_fn(logits, targets) -> (value, grad_logits)` against central differences.

    The loss's value is itself the scalar checked, so no probe is needed; the logits must be float64."""
    _require_float64(logits, "the logits")
    logits = logits.copy()
    _, analytic = loss_fn(logits, targets)
    num, count = numerical_gradient(lambda: loss_fn(logits, targets)[0], logits, eps, max_checks, seed)
    name = getattr(loss_fn, "__name__", "loss")
    report = GradcheckReport(name)
    report.rows.append(compare("input", analytic, num, count))
    return report


def double_gradcheck(layer, x, training: bool = True, eps: float = 1e-6, seed: int = 0,
                     max_checks=None) -> GradcheckReport:
    r"""Check `layer.double_backward` for its grad_out, its input and every parameter at input `x`.

    **The second-order probe** (as Chainer's `check_double_backward`). With random $\bar y$
    (y's shape) and $\tilde{\bar x}$ (x's shape, `ggx`), both standard normal (with `seed`),
    the input gradient $\bar x = \bar x(x, \bar y, \theta)$, recomputed by `backward` from a
    fresh forward pass, is probed by the scalar

    $$
    P = \langle \tilde{\bar x}, \bar x \rangle, \qquad \frac{\partial P}{\partial \bar x} = \tilde{\bar x},
    $$

    which plays the role of a gradient penalty: its adjoint with respect to $\bar x$ is exactly
    the `ggx` that `double_backward(ggx, grad_out)` receives. The gradients that pass claims,
    $\tilde{\bar y} = \partial P/\partial \bar y$ (its first result), $\tilde x = \partial P/\partial x$
    (its second) and $\tilde\theta = \partial P/\partial\theta$ (added to `.grad`), are each
    checked by `numerical_gradient` of $P$. The input must be float64.
    """
    from .nn import frozen, record_backward
    _require_float64(x, "the input")
    x = x.copy()
    rng_state = B.get_rng_state()
    buffers = [(name, a.copy()) for name, a in layer.named_buffers()]
    host = B.host.random.default_rng(seed)
    B.set_rng_state(rng_state)
    y = layer.forward(x, training=training)
    G = B.asarray(host.standard_normal(y.shape), dtype=y.dtype)
    ggx = B.asarray(host.standard_normal(x.shape), dtype=x.dtype)

    def input_grad():
        B.set_rng_state(rng_state)
        layer.forward(x, training=training)
        with frozen(layer):
            return layer.backward(G)

    def s():
        return float((input_grad() * ggx).sum())

    with record_backward(layer):
        input_grad()
        layer.zero_grad()
        gg_out, gx = layer.double_backward(ggx, G)
    report = GradcheckReport(repr(layer) + " (double backward)")
    for name, analytic, v in (("grad_out", gg_out, G), ("input", gx, x)):
        num, count = numerical_gradient(s, v, eps, max_checks, seed)
        report.rows.append(compare(name, B.get_backend().zeros_like(v) if analytic is None else analytic,
                                   num, count))
    return _check_parameters(report, layer, s, eps, max_checks, seed, buffers, rng_state)
