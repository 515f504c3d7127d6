r"""Check a backward pass against central differences, the way a student would by hand.

For a layer y = f(x; θ) we pick a fixed random R of y's shape and check the
scalar L = sum(y * R) (so dL/dy = R: a random *direction* for the upstream
gradient, as in Chainer's ``gradient_check``). The analytic gradients come
from one ``backward(R)``; each numerical one from::

    dL/dv[i] ≈ (L(v + eps e_i) - L(v - eps e_i)) / (2 eps)

for every element i of the input and of every parameter. Central differences
have error O(eps^2) plus rounding O(1e-16 |L| / eps), so in float64 with
eps = 1e-6 a correct backward pass agrees to about 1e-9 relative error,
while a wrong one is off by O(1). float32 cannot resolve this: the checks
insist on float64 (``npgan.backend.set_dtype("float64")`` before building the
layer).

Error measures, per tensor, with a = analytic and n = numerical gradient::

    max_abs = max_i |a_i - n_i|
    max_rel = max_abs / max(max_i |n_i|, max_i |a_i|, 1e-3)

The floor 1e-3 matters only for gradients that are (nearly) zero, such as
the bias of a convolution followed by BatchNorm, whose gradient is exactly 0:
there the numerical estimate is pure rounding noise (~1e-10) and dividing by
it would report a 100% error for a correct pass.

Randomness: the generator state is restored before every forward pass, so a
Dropout layer draws the same mask each time; BatchNorm's running statistics
are restored afterwards.

Second order (``double_gradcheck``), as Chainer's ``check_double_backward``: with
random G (y's shape) and ggx (x's shape), the scalar S = sum(ggx * dx), where
dx = backward(G) is recomputed from a fresh forward pass, has the gradients that
``double_backward(ggx, G)`` claims: dS/dG (its first result), dS/dx (its second)
and dS/dθ (added to ``.grad``). Each is checked by the same central differences.

Example::

    from npgan import backend, nn
    from npgan.gradcheck import gradcheck
    backend.set_dtype("float64")
    conv = nn.Conv2D(3, 4, kernel_size=3, stride=2, padding=1)
    x = backend.normal((2, 3, 7, 7))
    report = gradcheck(conv, x)
    print(report)             # a table: tensor, shape, max abs / rel error, checked
    assert report.ok(1e-6)
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
    """Per-tensor errors of one gradient check; ``str()`` gives a readable table."""

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
    """All flat indices, or a seeded random subset of ``max_checks`` of them."""
    if max_checks is None or size <= max_checks:
        return range(size)
    return B.host.random.default_rng(seed).choice(size, size=max_checks, replace=False).tolist()


def compare(name: str, analytic, numeric, checked: int) -> TensorError:
    """Summarise the gap between two gradients (only the checked entries are non-NaN in ``numeric``)."""
    a, n = B.to_numpy(analytic).ravel(), B.to_numpy(numeric).ravel()
    keep = ~B.host.isnan(n)
    a, n = a[keep], n[keep]
    max_abs = float(B.host.max(B.host.abs(a - n))) if a.size else 0.0
    scale = max(float(B.host.max(B.host.abs(n), initial=0.0)),
                float(B.host.max(B.host.abs(a), initial=0.0)), SCALE_FLOOR)
    max_rel = max_abs / scale
    return TensorError(name, tuple(analytic.shape), max_abs, max_rel, checked)


def numerical_gradient(f, v, eps: float = 1e-6, max_checks=None, seed: int = 0):
    """Central-difference gradient of the scalar function ``f()`` with respect to array ``v``.

    ``v`` is perturbed in place (and restored), so ``f`` must read it. Entries not
    checked (when ``max_checks`` limits the count) are NaN. Returns (gradient, count).
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
    """Check ``layer.backward`` for the input and every parameter at input ``x``.

    The layer's ``.grad`` arrays are left holding the analytic gradients of
    L = sum(layer(x) * R). ``max_checks`` limits the entries checked per tensor
    (a seeded random subset) for big tensors.
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
    """Every parameter's analytic ``.grad`` against central differences of f(); then restore the
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
    """Check a loss ``loss_fn(logits, targets) -> (value, grad_logits)`` against central differences."""
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
    """Check ``layer.double_backward`` for its grad_out, its input and every parameter at
    input ``x``: the gradients of S = sum(ggx * backward(G)) for random G and ggx."""
    from .nn.module import frozen, record_backward
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
