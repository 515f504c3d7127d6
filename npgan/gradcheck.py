r"""Check a backward pass against central differences, the way a student would by hand.

`gradcheck` checks a layer's `backward` for its input and every parameter through a random
scalar probe, `double_gradcheck` its `double_backward`, and `gradcheck_loss` a loss's
gradient. They share `numerical_gradient`, the central difference (whose docstring derives
its accuracy, and why the checks insist on float64), and `compare`, the error measure they
report. Each function's docstring derives its part.

**The report.** A `GradcheckReport` holds one row per tensor: its errors, how many entries
were checked, for a parameter whether the pass *adds* its gradient into `.grad` (the layer
contract: the passes on real and on fake data sum into one gradient), and PASS or FAIL at
the report's tolerance. `str(report)` is a table; below it, for each failing tensor, its
worst entries with their index, the expected value (the central difference), the received
one (the analytic gradient) and their errors, or how `.grad` was overwritten.
`report.check()` raises `GradcheckError` with that text when a row fails.

**Adding, not assigning.** A backward that *assigns* its gradient (`p.grad = g` or
`p.grad[...] = g`) instead of adding it gives the right gradient from a zeroed `.grad`, so
the comparison with central differences cannot see it. The checkers therefore run the pass
a second time with every `.grad` filled beforehand with a known non-zero array $P$, and
require $\texttt{.grad} - P$ afterwards to equal the gradient of the first run
(`addition_errors`).

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
print(report)             # a table: tensor, shape, max abs / rel error, checked, adds, PASS/FAIL
report.check()            # raises GradcheckError, with the worst entries, if a row fails
```
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import backend as B
from .nn import frozen, record_backward

SCALE_FLOOR = 1e-3  # see `compare`
TOL = 1e-6          # far above a correct pass's rounding, far below a wrong one's error: `numerical_gradient`
WORST = 3           # entries a failing tensor's report lists: enough to see a pattern, few enough to read


class GradcheckError(AssertionError):
    """A gradient check failed; the message is the report, with the worst entries of each failing tensor."""


@dataclass
class Entry:
    """One entry of a tensor's gradient: where, what central differences give, what the pass gave."""

    index: tuple
    expected: float   # central difference
    received: float   # analytic gradient
    abs_err: float
    rel_err: float    # abs_err over the tensor's scale, as in `compare`


@dataclass
class TensorError:
    """One row of a report: a tensor's errors, its worst entries, and (parameters) whether the pass adds into `.grad`."""

    name: str
    shape: tuple
    max_abs: float
    max_rel: float
    checked: int
    worst: list = field(default_factory=list)   # `Entry`s, the largest error first
    add_err: float | None = None                 # `addition_errors`; None where not checked (an input)

    def passed(self, tol: float = TOL) -> bool:
        """Within `tol` (relative), and, for a parameter, its gradient added rather than assigned."""
        return self.max_rel < tol and (self.add_err is None or self.add_err < tol)

    def explain(self, tol: float = TOL) -> list:
        """Lines saying how a failing row fails: its worst entries, and how `.grad` was overwritten."""
        lines = []
        if not self.max_rel < tol:
            lines += [f"{self.name}: the worst entries (expected: central difference; received: the analytic gradient)",
                      f"  {'index':<18}{'expected':>15}{'received':>15}{'abs err':>11}{'rel err':>11}"]
            lines += [f"  {str(e.index):<18}{e.expected:>15.6e}{e.received:>15.6e}{e.abs_err:>11.2e}{e.rel_err:>11.2e}"
                      for e in self.worst]
        if self.add_err is not None and not self.add_err < tol:
            lines.append(f"{self.name}: the pass assigns its gradient to .grad instead of adding it: run again "
                         f"with .grad filled beforehand with P, .grad - P differs from the gradient by "
                         f"{self.add_err:.2e} (relative)")
        return lines


@dataclass
class GradcheckReport:
    """Per-tensor errors of one gradient check at tolerance `tol`; `str()` gives a readable table."""

    target: str
    rows: list = field(default_factory=list)
    tol: float = TOL

    @property
    def max_rel(self) -> float:
        return max((r.max_rel for r in self.rows), default=0.0)

    @property
    def max_abs(self) -> float:
        return max((r.max_abs for r in self.rows), default=0.0)

    def failures(self, tol: float | None = None) -> list:
        """The rows that fail at `tol` (default: the report's)."""
        tol = self.tol if tol is None else tol
        return [r for r in self.rows if not r.passed(tol)]

    def ok(self, tol: float | None = None) -> bool:
        return not self.failures(tol)

    def check(self, tol: float | None = None) -> "GradcheckReport":
        """The report itself if every row passes at `tol`; otherwise `GradcheckError` with its text."""
        if not self.ok(tol):
            raise GradcheckError("\n" + self.describe(tol))
        return self

    def __getitem__(self, name: str) -> TensorError:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)

    def describe(self, tol: float | None = None) -> str:
        """The table at `tol` (default: the report's), then how each failing row fails."""
        tol = self.tol if tol is None else tol
        failing = self.failures(tol)
        verdict = "FAIL (" + ", ".join(r.name for r in failing) + ")" if failing else "PASS"
        lines = [f"gradient check of {self.target}: {verdict} at relative tolerance {tol:g}",
                 f"{'tensor':<16}{'shape':<20}{'max abs err':>13}{'max rel err':>13}{'checked':>9}{'adds':>6}  result"]
        for r in self.rows:
            adds = "-" if r.add_err is None else ("yes" if r.add_err < tol else "NO")
            lines.append(f"{r.name:<16}{str(r.shape):<20}{r.max_abs:>13.2e}{r.max_rel:>13.2e}"
                         f"{r.checked:>9}{adds:>6}  {'PASS' if r.passed(tol) else 'FAIL'}")
        for r in failing:
            lines += [""] + r.explain(tol)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.describe()


def _require_float64(arr, what: str):
    if arr.dtype != B.host.float64:
        raise TypeError(f"gradcheck: {what} has dtype {arr.dtype.name}; gradient checks need "
                        f"float64 (call npgan.backend.set_dtype('float64') before building it)")


def probe_generator(seed: int = 0, stream: int = 0):
    r"""The host generator the checks draw their random directions from (`stream` 0) and
    `addition_errors` its fill (`stream` 1): children of `seed`'s seed sequence.

    Not `default_rng(seed)` itself: that is the stream `backend.seed(seed)` starts, so an
    input drawn right after it would equal the probe, and such a probe can hide a gradient.
    BatchNorm's backward, $\bar x = \frac{\gamma}{\sigma}\bigl(\bar y - \operatorname{mean}(\bar y)
    - \hat x \operatorname{mean}(\bar y \hat x)\bigr)$ per channel, removes from $\bar y$ its
    parts along the constant and along $\hat x$; $\bar y = x = \mu + \sigma \hat x$ has no
    other, so the input gradient checked would be zero."""
    return B.host.random.default_rng(B.host.random.SeedSequence(seed).spawn(stream + 1)[stream])


def probe(shape, seed: int = 0):
    """The random direction $r$ that `gradcheck` probes a layer's output of `shape` with:
    standard normal, in the current dtype and backend."""
    return B.asarray(probe_generator(seed).standard_normal(tuple(shape)), dtype=B.get_dtype())


def _indices(size: int, max_checks, seed: int):
    """All flat indices, or a seeded random subset of `max_checks` of them."""
    if max_checks is None or size <= max_checks:
        return range(size)
    return B.host.random.default_rng(seed).choice(size, size=max_checks, replace=False).tolist()


def compare(name: str, analytic, numeric, checked: int, worst: int = WORST) -> TensorError:
    r"""Summarise the gap between two gradients (only the checked entries are non-NaN in `numeric`).

    **Error measures**, per tensor, with $\alpha_k$ the analytic and $\nu_k$ the numerical
    gradient, over the checked entries $k$:

    $$
    \begin{aligned}
    \varepsilon_\text{abs} &= \max_k |\alpha_k - \nu_k|, \\
    \varepsilon_\text{rel} &= \frac{\varepsilon_\text{abs}}{s}, \qquad
    s = \max\bigl(\max_k |\nu_k|,\ \max_k |\alpha_k|,\ 10^{-3}\bigr),
    \end{aligned}
    $$

    reported as `max_abs` and `max_rel`. The floor $10^{-3}$ (`SCALE_FLOOR`) matters only for
    gradients that are (nearly) zero, such as the bias of a convolution followed by BatchNorm,
    whose gradient is exactly 0: there the numerical estimate is pure rounding noise (about
    $10^{-10}$) and dividing by it would report a 100% error for a correct pass.

    The `worst` entries with the largest $|\alpha_k - \nu_k|$ are kept (`TensorError.worst`),
    each with its index, $\nu_k$ (expected), $\alpha_k$ (received) and its relative error
    $|\alpha_k - \nu_k|/s$, over the same scale $s$, so that the largest of them is
    $\varepsilon_\text{rel}$. A NaN in the analytic gradient counts as an infinite error.
    """
    a, n = B.to_numpy(analytic).ravel(), B.to_numpy(numeric).ravel()
    where = B.host.flatnonzero(~B.host.isnan(n))
    a, n = a[where], n[where]
    gap = B.host.abs(a - n)
    max_abs = float(B.host.max(gap)) if a.size else 0.0
    scale = max(float(B.host.max(B.host.abs(n), initial=0.0)),
                float(B.host.nanmax(B.host.abs(a), initial=0.0)), SCALE_FLOOR)
    order = B.host.argsort(-B.host.where(B.host.isnan(gap), B.host.inf, gap), kind="stable")[:worst]
    entries = [Entry(tuple(int(i) for i in B.host.unravel_index(int(where[k]), tuple(analytic.shape))),
                     float(n[k]), float(a[k]), float(gap[k]), float(gap[k]) / scale) for k in order]
    return TensorError(name, tuple(analytic.shape), max_abs, max_abs / scale, checked, entries)


def addition_errors(layer, rerun, seed: int = 0) -> dict:
    r"""How far each parameter's pass is from *adding* its gradient into `.grad`: `{name: relative error}`.

    Call it when `.grad` holds the gradient $g$ of one pass from a zeroed `.grad`. It fills
    every `.grad` with a seeded array $P$ whose entries are standard normal times
    $\max(\max_k |g_k|, 1)$ (non-zero, and as large as the gradient), calls `rerun()`, which
    repeats the same pass (the same forward, the same random draws and buffers), and measures

    $$
    \varepsilon_\text{add} = \frac{\max_k \bigl|(\texttt{.grad}_k - P_k) - g_k\bigr|}
    {\max\bigl(\max_k |g_k|,\ \max_k |P_k|,\ 10^{-3}\bigr)}.
    $$

    A pass that adds leaves $\texttt{.grad} = P + g$: $\varepsilon_\text{add}$ is rounding,
    about $10^{-16}$. One that assigns leaves $\texttt{.grad} = g$, so
    $(\texttt{.grad} - P) - g = -P$ and $\varepsilon_\text{add}$ is of order 1; one that
    zeroes `.grad` first and then adds, the same. `.grad` holds $g$ again afterwards.
    """
    params = layer.named_parameters()
    first = {name: p.grad.copy() for name, p in params}
    host = probe_generator(seed, stream=1)
    prefill = {}
    for name, p in params:
        size = max(_largest(first[name]), 1.0)
        prefill[name] = B.asarray(host.standard_normal(p.grad.shape) * size, dtype=p.grad.dtype)
        p.grad[...] = prefill[name]
    rerun()
    errors = {}
    for name, p in params:
        g, fill = first[name], prefill[name]
        errors[name] = _largest((p.grad - fill) - g) / max(_largest(g), _largest(fill), SCALE_FLOOR)
        p.grad[...] = g
    return errors


def _largest(a) -> float:
    r"""$\max_k |a_k|$ (0 for an empty array; NaN if `a` holds one)."""
    return float(B.get_backend().abs(a).max()) if a.size else 0.0


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


def _buffers(layer) -> list:
    return [(name, a.copy()) for name, a in layer.named_buffers()]


def _restore(layer, buffers) -> None:
    for name, saved in buffers:
        layer.set_buffer(name, saved.copy())


def gradcheck(layer, x, training: bool = True, eps: float = 1e-6, seed: int = 0,
              max_checks=None, tol: float = TOL) -> GradcheckReport:
    r"""Check `layer.backward` for the input and every parameter at input `x`.

    **The scalar probe.** For the layer $y = f(x; \theta)$ the check draws a fixed random $r$
    of y's shape from a standard normal (`probe(y.shape, seed)`) and checks the scalar

    $$
    L = \langle y, r \rangle = \sum_k y_k\, r_k,
    $$

    so that $\bar y = \partial L/\partial y = r$: a random *direction* for the upstream
    gradient, as in Chainer's `gradient_check`. The analytic adjoints $\bar x$ and $\bar\theta$
    come from one `backward(r)`, the numerical ones from `numerical_gradient` of $L$ for
    every element of the input and of every parameter, and `compare` reports the gap. A
    second forward and `backward(r)`, from the same buffers and random state, checks that
    the pass adds $\bar\theta$ into `.grad` (`addition_errors`).

    The layer's `.grad` arrays are left holding the analytic gradients of $L$. `max_checks`
    limits the entries checked per tensor (a seeded random subset) for big tensors. The input
    and every parameter must be float64. The report's rows pass or fail at `tol`.
    """
    _require_float64(x, "the input")
    for p in layer.parameters():
        _require_float64(p.data, f"parameter {p.name}")
    x = x.copy()
    rng_state = B.get_rng_state()
    buffers = _buffers(layer)

    def run():
        B.set_rng_state(rng_state)
        return layer.forward(x, training=training)

    y = run()
    r = B.asarray(probe(y.shape, seed), dtype=y.dtype)

    def loss():
        return float((run() * r).sum())

    def rerun():  # the same pass again: the buffers and random state the first one started from
        _restore(layer, buffers)
        run()
        layer.backward(r)

    layer.zero_grad()
    dx = layer.backward(r)
    added = addition_errors(layer, rerun, seed)
    report = GradcheckReport(repr(layer), tol=tol)
    num, count = numerical_gradient(loss, x, eps, max_checks, seed)
    report.rows.append(compare("input", dx, num, count))
    return _check_parameters(report, layer, loss, eps, max_checks, seed, buffers, rng_state, added)


def _check_parameters(report, layer, f, eps, max_checks, seed, buffers, rng_state, added) -> GradcheckReport:
    """Every parameter's analytic `.grad` against central differences of f(), with its
    `addition_errors` entry; then restore the buffers and the random state the check started from."""
    for name, p in layer.named_parameters():
        analytic = p.grad.copy()
        num, count = numerical_gradient(f, p.data, eps, max_checks, seed)
        row = compare(name, analytic, num, count)
        row.add_err = added[name]
        report.rows.append(row)
    _restore(layer, buffers)
    B.set_rng_state(rng_state)
    return report


def gradcheck_loss(loss_fn, logits, targets, eps: float = 1e-6, max_checks=None,
                   seed: int = 0, name: str | None = None, tol: float = TOL) -> GradcheckReport:
    """Check a loss `loss_fn(logits, targets) -> (value, grad_logits)` against central differences.

    The loss's value is itself the scalar checked, so no probe is needed; the logits must be
    float64. `name` titles the report (default: the function's name)."""
    _require_float64(logits, "the logits")
    logits = logits.copy()
    _, analytic = loss_fn(logits, targets)
    num, count = numerical_gradient(lambda: loss_fn(logits, targets)[0], logits, eps, max_checks, seed)
    report = GradcheckReport(name or getattr(loss_fn, "__name__", "loss"), tol=tol)
    report.rows.append(compare("input", analytic, num, count))
    return report


def double_gradcheck(layer, x, training: bool = True, eps: float = 1e-6, seed: int = 0,
                     max_checks=None, tol: float = TOL) -> GradcheckReport:
    r"""Check `layer.double_backward` for its grad_out, its input and every parameter at input `x`.

    **The second-order probe** (as Chainer's `check_double_backward`). With random $\bar y$
    (y's shape) and $\tilde{\bar x}$ (x's shape, `ggx`), both standard normal (`probe_generator(seed)`),
    the input gradient $\bar x = \bar x(x, \bar y, \theta)$, recomputed by `backward` from a
    fresh forward pass, is probed by the scalar

    $$
    P = \langle \tilde{\bar x}, \bar x \rangle, \qquad \frac{\partial P}{\partial \bar x} = \tilde{\bar x},
    $$

    which plays the role of a gradient penalty: its adjoint with respect to $\bar x$ is exactly
    the `ggx` that `double_backward(ggx, grad_out)` receives. The gradients that pass claims,
    $\tilde{\bar y} = \partial P/\partial \bar y$ (its first result), $\tilde x = \partial P/\partial x$
    (its second) and $\tilde\theta = \partial P/\partial\theta$ (added to `.grad`: a second
    run checks the adding, `addition_errors`), are each checked by `numerical_gradient` of
    $P$. The input must be float64. The report's rows pass or fail at `tol`.
    """
    _require_float64(x, "the input")
    x = x.copy()
    rng_state = B.get_rng_state()
    buffers = _buffers(layer)
    host = probe_generator(seed)
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

    before = _buffers(layer)

    def rerun():  # the same second-order pass again, from the same buffers
        _restore(layer, before)
        input_grad()
        layer.double_backward(ggx, G)

    with record_backward(layer):
        input_grad()
        layer.zero_grad()
        gg_out, gx = layer.double_backward(ggx, G)
        added = addition_errors(layer, rerun, seed)
    report = GradcheckReport(repr(layer) + " (double backward)", tol=tol)
    for name, analytic, v in (("grad_out", gg_out, G), ("input", gx, x)):
        num, count = numerical_gradient(s, v, eps, max_checks, seed)
        report.rows.append(compare(name, B.get_backend().zeros_like(v) if analytic is None else analytic,
                                   num, count))
    return _check_parameters(report, layer, s, eps, max_checks, seed, buffers, rng_state, added)
