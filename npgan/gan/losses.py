r"""The losses of the game: what D and G each minimise, as functions of D's outputs.

A GAN loss is one class, registered under its name in `GAN_LOSSES` (`@register_loss`);
`GANTrainer(loss=NAME)`, `npgan train --loss NAME` and the recipes find it there, and so do
the generic tests. Values are means over the batch; gradients are adjoints of D's outputs,
$\partial L/\partial\,\text{out}$, from which backprop starts. `out` is the discriminator's
raw output, shape $(N, 1)$: a logit for the cross-entropy losses, used as it is by the
others. Every loss has the *joint form*, two methods that see both batches:

* `discriminator(real_out, fake_out) -> (value, dL_D/d real_out, dL_D/d fake_out)`: D's
  loss from its outputs on $N$ real samples $D(x_n)$ and on $N$ fakes $D(G(z_n))$;
* `generator(fake_out, real_out=None) -> (value, dL_G/d fake_out)`: G's loss on
  $D(G(z_n))$. Only a `joint` loss is given `real_out`, $D(x_n)$: a constant for G, whose
  parameters do not move it, so its adjoint is not returned.

**Separable losses** (every loss here but `RelativisticLoss`): D's loss is a term on the
real samples plus a term on the fakes, and G's loss sees the fakes alone. Such a class
writes `discriminator_real(out)` and `discriminator_fake(out)`, each `(value, gradient)`,
and `generator(out)`; the inherited `discriminator` is their sum. The trainer calls the
terms one by one: D's layers cache one pass, so it backpropagates the real pass before it
runs the fake one (the generic tests check that the terms add up to `discriminator`).

**Joint losses** (`joint = True`; the relativistic losses) couple the two batches: the
class writes `discriminator` and `generator` itself, and the trainer calls them. It runs
both of D's passes before any backward, replays the real one to backpropagate it (the same
random draws and buffers), and gives G's loss D's outputs on the real batch too.

**What each loss declares**, besides its derivation in its docstring:

* `closed_form(real_out, fake_out)`: both losses' values, worked out by hand, when D
  outputs the constant `real_out` on every real sample and `fake_out` on every fake;
* `equilibrium()`: where the theory says the logged figures (`d_loss`, `g_loss`, `d_real`,
  `d_fake`) end when $p_g = p_\text{data}$ and D is optimal, the loss curves' reference
  lines, and `equilibrium_outputs()`: the constant outputs of such an optimal D (several
  where it is not unique), at which those lines are the figures;
* `probability(out)`: what the training log reports as mean $D(x)$ and $D(G(z))$;
* `defaults`: the config settings it trains best with.

**At the optimal D.** Each separable loss's docstring gives the value of D's loss at the
optimal discriminator. In expectation over the data and the noise, and since $G(z)$ with
$z \sim p_z$ has density $p_g$, D's loss is an integral over the sample space,
$\int \bigl(p_\text{data}(x)\, u(D(x)) + p_g(x)\, v(D(x))\bigr)\, dx$ for the loss's real
and fake terms $u$ and $v$. Each point $x$ contributes through $D(x)$ alone, so an
unconstrained optimal $D^*$ minimises the integrand point by point (the Wasserstein critic
is constrained to be 1-Lipschitz instead: `WassersteinLoss`). The minimum $L_D^*$ is an
affine function of a divergence between $p_\text{data}$ and $p_g$: `divergence` names it
and `divergence_from(L_D*)` inverts that map (`demos/divergences.py` reads each divergence
off a trained D this way). Where $p_g = p_\text{data}$ the integrand is
$p_\text{data}(x)\,\bigl(u(D(x)) + v(D(x))\bigr)$, minimised where $D(x)$ minimises
$u + v$: the same constants at every $x$, which `equilibrium_outputs()` gives.
"""

from __future__ import annotations

import math

from .. import backend as B
from ..losses import sigmoid_cross_entropy
from ..nn.activations import sigmoid
from .base import make_registrar

GAN_LOSSES: dict = {}
FIGURES = ("d_loss", "g_loss", "d_real", "d_fake")  # the logged figures `equilibrium` may give lines for


register_loss = make_registrar(GAN_LOSSES, "register_loss")  # @register_loss on a GANLoss class


def _softplus(u: float) -> float:
    r"""$\log(1 + e^u)$ for one number, without overflow: the closed forms' building block."""
    return max(u, 0.0) + math.log1p(math.exp(-abs(u)))


def make_loss(loss="non_saturating", **options) -> "GANLoss":
    """A `GANLoss` from its registered name (`options` go to its constructor), or `loss`
    itself when it is one already."""
    if isinstance(loss, GANLoss):
        return loss
    if loss not in GAN_LOSSES:
        raise ValueError(f"unknown GAN loss {loss!r}; expected one of {tuple(GAN_LOSSES)}")
    return GAN_LOSSES[loss](**options)


class GANLoss:
    """Base class; see the module docstring for the contract.

    Only the cross-entropy losses take `label_smoothing`; the others refuse a non-zero one.
    """

    name = ""
    divergence = ""
    defaults: dict = {}  # config settings this loss trains best with (above the recipes, below flags)
    joint = False  # True: `discriminator` couples the two batches, and `generator` reads D(x)

    def divergence_from(self, d_loss: float) -> float:  # pragma: no cover - abstract
        r"""The divergence between $p_\text{data}$ and $p_g$ that D's loss `d_loss` equals at the optimal D."""
        raise NotImplementedError

    def __init__(self, label_smoothing: float = 0.0):
        if label_smoothing:
            raise ValueError(f"the {self.name} loss has no label smoothing (got {label_smoothing})")

    def discriminator(self, real_out, fake_out):
        """D's loss from its outputs on the real and the fake batch: `(value, dL/d real_out, dL/d fake_out)`.

        For a separable loss, the sum of its two terms (`discriminator_real`, `discriminator_fake`)."""
        value_real, grad_real = self.discriminator_real(real_out)
        value_fake, grad_fake = self.discriminator_fake(fake_out)
        return value_real + value_fake, grad_real, grad_fake

    def discriminator_real(self, out):
        """A separable loss's term of D's loss on $D(x)$: `(value, dL/d out)`."""
        raise NotImplementedError(self._missing("discriminator_real(out)"))

    def discriminator_fake(self, out):
        """A separable loss's term of D's loss on $D(G(z))$: `(value, dL/d out)`."""
        raise NotImplementedError(self._missing("discriminator_fake(out)"))

    def generator(self, fake_out, real_out=None):
        """G's loss on $D(G(z))$: `(value, dL/d fake_out)`; a `joint` loss is given $D(x)$ as `real_out`."""
        raise NotImplementedError(self._missing("generator(fake_out)"))

    def _missing(self, what: str) -> str:
        return (f"{type(self).__name__} writes no {what}: a separable loss writes discriminator_real, "
                f"discriminator_fake and generator; a joint one sets joint = True and writes "
                f"discriminator(real_out, fake_out) and generator(fake_out, real_out)")

    def closed_form(self, real_out: float, fake_out: float) -> dict:
        """`{"d_loss": L_D, "g_loss": L_G}`, worked out by hand, when D outputs the number `real_out`
        on every real sample and `fake_out` on every fake (the generic tests check the code against it)."""
        raise NotImplementedError(f"{type(self).__name__} declares no closed_form(real_out, fake_out)")

    def probability(self, out):
        r"""D's output as the probability that a sample is real: $\sigma(a)$ of the logit $a$."""
        return sigmoid(out)

    def equilibrium(self) -> dict:
        r"""Where the theory says the logged figures end when $p_g = p_\text{data}$ and D is optimal.

        `{"d_loss": (value, label), ...}` for those of `FIGURES` that are determined there
        (the loss curves draw them as reference lines): each is the figure at every output
        of `equilibrium_outputs()`."""
        return {}

    def equilibrium_outputs(self) -> tuple:
        r"""Constant outputs of a D that is optimal when $p_g = p_\text{data}$ (several where it is not unique).

        Empty where the theory fixes none; then `equilibrium()` is empty too."""
        return ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class _CrossEntropyGame(GANLoss):
    """The sigmoid cross-entropy game of Goodfellow et al. (2014): D's terms, shared by `NonSaturatingLoss` and `MinimaxLoss`.

    `NonSaturatingLoss`'s docstring derives them, and D's loss at the optimal D.
    """

    def __init__(self, label_smoothing: float = 0.0):
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    divergence = "Jensen-Shannon divergence"

    def divergence_from(self, d_loss: float) -> float:
        r"""$\mathrm{JSD}(p_\text{data} \,\|\, p_g) = (\log 4 - L_D^*)/2$ (without label smoothing)."""
        return (math.log(4.0) - float(d_loss)) / 2.0

    def discriminator_real(self, out):
        return sigmoid_cross_entropy(out, 1.0 - self.label_smoothing)   # -log D(x)

    def discriminator_fake(self, out):
        return sigmoid_cross_entropy(out, 0.0)                          # -log(1 - D(G(z)))

    def _d_closed_form(self, real_out: float, fake_out: float) -> float:
        r"""$L_D = \ell(r, 1 - s) + \ell(f, 0)$ at constant logits $r$, $f$, where $\ell(a, t) = \operatorname{softplus}(a) - t a$.

        That is the sigmoid cross-entropy: $-t \log\sigma(a) - (1 - t) \log\bigl(1 - \sigma(a)\bigr)
        = t \operatorname{softplus}(-a) + (1 - t) \operatorname{softplus}(a)$, and
        $\operatorname{softplus}(-a) = \operatorname{softplus}(a) - a$."""
        return _softplus(real_out) - (1.0 - self.label_smoothing) * real_out + _softplus(fake_out)

    def equilibrium(self) -> dict:
        if self.label_smoothing:  # D* = (1 - s) / 2 there: the lines below would not hold
            return {}
        return {"d_loss": (math.log(4.0), "log 4 (D = 1/2)"), "d_real": (0.5, "1/2"), "d_fake": (0.5, "1/2")}

    def equilibrium_outputs(self) -> tuple:
        r"""The logit of $D^* = (1 - s)/2$: $\log\bigl((1 - s)/(1 + s)\bigr)$, 0 without label smoothing."""
        s = self.label_smoothing
        return (math.log((1.0 - s) / (1.0 + s)),)

    def __repr__(self) -> str:
        smooth = f"label_smoothing={self.label_smoothing}" if self.label_smoothing else ""
        return f"{type(self).__name__}({smooth})"


@register_loss
class NonSaturatingLoss(_CrossEntropyGame):
    r"""The non-saturating generator loss (the 2014 paper's advice; the default), in the sigmoid cross-entropy game.

    **Value function.** D maximises, and G minimises,

    $$
    V(D, G) = \mathbb E_{x \sim p_\text{data}}\bigl[\log D(x)\bigr] + \mathbb E_{z \sim p_z}\bigl[\log\bigl(1 - D(G(z))\bigr)\bigr].
    $$

    **D's terms.** D minimises $L_D = -V$. On a batch of $N$ real samples $x_n$ and $N$
    fakes $G(z_n)$ it is written with the sigmoid cross-entropy $\ell(a, t)$ of
    `npgan.losses.sigmoid_cross_entropy`, whose gradient is $\partial\ell/\partial a = \sigma(a) - t$:

    $$
    \begin{aligned}
    L_D &= \frac1N \sum_n \ell\bigl(a(x_n),\, 1 - s\bigr) + \frac1N \sum_n \ell\bigl(a(G(z_n)),\, 0\bigr), \\
    \frac{\partial L_D}{\partial a(x_n)} &= \frac{D(x_n) - (1 - s)}{N}, \qquad
    \frac{\partial L_D}{\partial a(G(z_n))} = \frac{D(G(z_n))}{N},
    \end{aligned}
    $$

    where $s$ is the one-sided label smoothing (`label_smoothing`, in $[0, 1)$, 0 by
    default; Salimans et al. 2016): real targets $1 - s$, fake targets 0. With $s = 0$,
    $\ell(a(x_n), 1) = -\log D(x_n)$ and $\ell(a(G(z_n)), 0) = -\log\bigl(1 - D(G(z_n))\bigr)$,
    so $L_D$ is $-V$ on the batch. These terms are `MinimaxLoss`'s too.

    **At the optimal D** ($s = 0$). As $G(z)$, $z \sim p_z$, has density $p_g$,

    $$
    -V(D, G) = -\int \Bigl(p_\text{data}(x) \log D(x) + p_g(x) \log\bigl(1 - D(x)\bigr)\Bigr)\, dx.
    $$

    At each $x$ the integrand is $-\bigl(\alpha \log d + \beta \log(1 - d)\bigr)$ with
    $d = D(x)$, $\alpha = p_\text{data}(x)$, $\beta = p_g(x)$: convex in $d \in (0, 1)$, with
    derivative $-\alpha/d + \beta/(1 - d)$, zero at $d = \alpha/(\alpha + \beta)$. Hence

    $$
    D^*(x) = \frac{p_\text{data}(x)}{p_\text{data}(x) + p_g(x)}.
    $$

    With the mixture $p_m = (p_\text{data} + p_g)/2$, $D^* = p_\text{data}/(2 p_m)$ and
    $1 - D^* = p_g/(2 p_m)$, so

    $$
    \begin{aligned}
    L_D^* = -V(D^*, G) &= -\mathbb E_{x \sim p_\text{data}}\Bigl[\log \frac{p_\text{data}(x)}{2 p_m(x)}\Bigr]
    - \mathbb E_{x \sim p_g}\Bigl[\log \frac{p_g(x)}{2 p_m(x)}\Bigr] \\
    &= 2 \log 2 - \mathrm{KL}(p_\text{data} \,\|\, p_m) - \mathrm{KL}(p_g \,\|\, p_m) \\
    &= \log 4 - 2\, \mathrm{JSD}(p_\text{data} \,\|\, p_g),
    \end{aligned}
    $$

    by the definition of the Jensen-Shannon divergence,

    $$
    \mathrm{JSD}(p_\text{data} \,\|\, p_g) = \tfrac12 \mathrm{KL}(p_\text{data} \,\|\, p_m) + \tfrac12 \mathrm{KL}(p_g \,\|\, p_m).
    $$

    When $p_g = p_\text{data}$, $D^* = 1/2$ everywhere,
    $\mathrm{JSD} = 0$ and $L_D^* = \log 4$. With label smoothing the same steps give
    $D^* = (1 - s)\, p_\text{data}/(p_\text{data} + p_g)$, which is $(1 - s)/2$ there, and
    neither this map nor the equilibrium lines hold (`equilibrium` then gives none).

    **G's loss**, on $N$ fakes $G(z_n)$ with logits $a(G(z_n))$ and $D = \sigma(a)$:

    $$
    \begin{aligned}
    L_G &= -\frac1N \sum_n \log D(G(z_n)) = \frac1N \sum_n \ell\bigl(a(G(z_n)),\, 1\bigr), \\
    \frac{\partial L_G}{\partial a(G(z_n))} &= \frac{D(G(z_n)) - 1}{N}.
    \end{aligned}
    $$

    Same fixed point as the minimax loss (both fall as $D(G(z))$ rises), but a gradient near
    $-1/N$ per sample when D confidently rejects the fakes ($D(G(z_n)) \to 0$), exactly early
    in training. At $p_g = p_\text{data}$ with the optimal $D = 1/2$, $L_G = \log 2$.
    """

    name = "non_saturating"

    def generator(self, out):
        return sigmoid_cross_entropy(out, 1.0)

    def closed_form(self, real_out: float, fake_out: float) -> dict:
        r"""D's terms as in `_d_closed_form`; $L_G = \ell(f, 1) = \operatorname{softplus}(-f)$."""
        return {"d_loss": self._d_closed_form(real_out, fake_out), "g_loss": _softplus(-fake_out)}

    def equilibrium(self) -> dict:
        base = super().equilibrium()
        return {**base, "g_loss": (math.log(2.0), "log 2 (D = 1/2)")} if base else {}


@register_loss
class MinimaxLoss(_CrossEntropyGame):
    r"""The minimax generator loss, the game's own: G minimises V's second term.

    **G's loss**, on $N$ fakes $G(z_n)$ with logits $a(G(z_n))$ and $D = \sigma(a)$:

    $$
    \begin{aligned}
    L_G &= \frac1N \sum_n \log\bigl(1 - D(G(z_n))\bigr) = -\frac1N \sum_n \ell\bigl(a(G(z_n)),\, 0\bigr), \\
    \frac{\partial L_G}{\partial a(G(z_n))} &= -\frac{D(G(z_n))}{N},
    \end{aligned}
    $$

    since $\partial \log\bigl(1 - \sigma(a)\bigr)/\partial a = -\sigma(a)$. The gradient is
    proportional to $D(G(z_n))$, so it vanishes as $D(G(z_n)) \to 0$: the generator learns
    nothing while D wins (`demos/saturation.py` shows it). At $p_g = p_\text{data}$ with the
    optimal $D = 1/2$, $L_G = -\log 2$. D's terms, and D's loss at the optimal D,
    $\log 4 - 2\,\mathrm{JSD}(p_\text{data} \,\|\, p_g)$, are the cross-entropy game's,
    derived in `NonSaturatingLoss`.
    """

    name = "minimax"

    def generator(self, out):
        value, grad = sigmoid_cross_entropy(out, 0.0)
        return -value, -grad

    def closed_form(self, real_out: float, fake_out: float) -> dict:
        r"""D's terms as in `_d_closed_form`; $L_G = -\ell(f, 0) = -\operatorname{softplus}(f)$."""
        return {"d_loss": self._d_closed_form(real_out, fake_out), "g_loss": -_softplus(fake_out)}

    def equilibrium(self) -> dict:
        base = super().equilibrium()
        return {**base, "g_loss": (-math.log(2.0), "-log 2 (D = 1/2)")} if base else {}


class _RawOutput(GANLoss):
    """Losses on D's raw output (no sigmoid): the log reports mean $D(x)$, $D(G(z))$ as they are."""

    def probability(self, out):
        return out


@register_loss
class LeastSquaresLoss(_RawOutput):
    r"""Least squares (LSGAN, Mao et al. 2017), with targets $a$ (fake) and $b$ (real) for D and $c$ for G.

    Defaults $a = 0$, $b = c = 1$. D's output is used as it is (no sigmoid).

    **D's and G's losses**, on $N$ real samples $x_n$ and $N$ fakes $G(z_n)$:

    $$
    \begin{aligned}
    L_D &= \frac{1}{2N} \sum_n \bigl(D(x_n) - b\bigr)^2 + \frac{1}{2N} \sum_n \bigl(D(G(z_n)) - a\bigr)^2, \\
    L_G &= \frac{1}{2N} \sum_n \bigl(D(G(z_n)) - c\bigr)^2.
    \end{aligned}
    $$

    **Gradients** with respect to D's outputs:

    $$
    \frac{\partial L_D}{\partial D(x_n)} = \frac{D(x_n) - b}{N}, \qquad
    \frac{\partial L_D}{\partial D(G(z_n))} = \frac{D(G(z_n)) - a}{N}, \qquad
    \frac{\partial L_G}{\partial D(G(z_n))} = \frac{D(G(z_n)) - c}{N}.
    $$

    **At the optimal D.** In expectation

    $$
    L_D = \frac12 \int \Bigl(p_\text{data}(x) \bigl(D(x) - b\bigr)^2 + p_g(x) \bigl(D(x) - a\bigr)^2\Bigr)\, dx,
    $$

    a quadratic in $D(x)$ at each $x$, minimal where its derivative
    $p_\text{data}(D - b) + p_g(D - a)$ is zero:

    $$
    D^*(x) = \frac{b\, p_\text{data}(x) + a\, p_g(x)}{p_\text{data}(x) + p_g(x)}.
    $$

    Then $D^* - b = (a - b)\, p_g / (p_\text{data} + p_g)$ and
    $D^* - a = (b - a)\, p_\text{data} / (p_\text{data} + p_g)$, so

    $$
    L_D^* = \frac12 \int \frac{(b - a)^2 \bigl(p_\text{data}\, p_g^2 + p_g\, p_\text{data}^2\bigr)}{(p_\text{data} + p_g)^2}\, dx
    = \frac{(b - a)^2}{2} \int \frac{p_\text{data}\, p_g}{p_\text{data} + p_g}\, dx.
    $$

    This is the Pearson $\chi^2$ divergence from the mixture $p_m = (p_\text{data} + p_g)/2$.
    With $p_\text{data} - p_m = (p_\text{data} - p_g)/2$ and
    $(p_\text{data} - p_g)^2 = (p_\text{data} + p_g)^2 - 4\, p_\text{data}\, p_g$,

    $$
    \begin{aligned}
    \chi^2(p_\text{data} \,\|\, p_m) = \int \frac{(p_\text{data} - p_m)^2}{p_m}\, dx
    &= \frac12 \int \frac{(p_\text{data} - p_g)^2}{p_\text{data} + p_g}\, dx \\
    &= \frac12 \int (p_\text{data} + p_g)\, dx - 2 \int \frac{p_\text{data}\, p_g}{p_\text{data} + p_g}\, dx \\
    &= 1 - 2 \int \frac{p_\text{data}\, p_g}{p_\text{data} + p_g}\, dx,
    \end{aligned}
    $$

    and substituting the last integral,

    $$
    L_D^* = \frac{(b - a)^2}{4} \bigl(1 - \chi^2(p_\text{data} \,\|\, p_m)\bigr),
    $$

    which is $\frac14 - \frac14 \chi^2(p_\text{data} \,\|\, p_m)$ for $a = 0$, $b = 1$: $\frac14$
    when $p_g = p_\text{data}$, where $D^* = \frac12$ (in general $(a + b)/2$, and
    $L_D^* = (b - a)^2/4$).
    """

    name = "least_squares"
    divergence = "Pearson chi^2 divergence from the mixture"

    def divergence_from(self, d_loss: float) -> float:
        r"""$\chi^2(p_\text{data} \,\|\, p_m) = 1 - 4 L_D^*/(b - a)^2$, from $L_D^* = (b - a)^2 (1 - \chi^2)/4$."""
        return 1.0 - 4.0 * float(d_loss) / (self.b - self.a) ** 2

    def __init__(self, a: float = 0.0, b: float = 1.0, c: float = 1.0, label_smoothing: float = 0.0):
        super().__init__(label_smoothing)
        self.a, self.b, self.c = float(a), float(b), float(c)

    @staticmethod
    def _half_square(out, target):
        d = out - target
        return 0.5 * (d * d).mean(), d / out.size

    def discriminator_real(self, out):
        return self._half_square(out, self.b)

    def discriminator_fake(self, out):
        return self._half_square(out, self.a)

    def generator(self, out):
        return self._half_square(out, self.c)

    def closed_form(self, real_out: float, fake_out: float) -> dict:
        r"""$L_D = \bigl((r - b)^2 + (f - a)^2\bigr)/2$, $L_G = (f - c)^2/2$."""
        return {"d_loss": ((real_out - self.b) ** 2 + (fake_out - self.a) ** 2) / 2,
                "g_loss": (fake_out - self.c) ** 2 / 2}

    def equilibrium_outputs(self) -> tuple:
        return ((self.a + self.b) / 2,)

    def equilibrium(self) -> dict:
        r"""$D^* = (a + b)/2$ everywhere; $L_D^* = (b - a)^2/4$, $L_G = \bigl((a + b)/2 - c\bigr)^2/2$."""
        mid = (self.a + self.b) / 2
        return {"d_loss": ((self.b - self.a) ** 2 / 4, f"(b - a)^2/4 (D = {mid:g})"),
                "g_loss": ((mid - self.c) ** 2 / 2, f"(D - c)^2/2 (D = {mid:g})"),
                "d_real": (mid, f"{mid:g}"), "d_fake": (mid, f"{mid:g}")}


@register_loss
class HingeLoss(_RawOutput):
    r"""The hinge loss (Lim & Ye 2017; Miyato et al. 2018), on D's raw output.

    **D's and G's losses**, on $N$ real samples $x_n$ and $N$ fakes $G(z_n)$:

    $$
    \begin{aligned}
    L_D &= \frac1N \sum_n \max\bigl(0,\, 1 - D(x_n)\bigr) + \frac1N \sum_n \max\bigl(0,\, 1 + D(G(z_n))\bigr), \\
    L_G &= -\frac1N \sum_n D(G(z_n)).
    \end{aligned}
    $$

    **Gradients** with respect to D's outputs, $[\cdot]$ being 1 where the condition holds
    and 0 elsewhere (at a kink, the subgradient 0):

    $$
    \frac{\partial L_D}{\partial D(x_n)} = -\frac{[D(x_n) < 1]}{N}, \qquad
    \frac{\partial L_D}{\partial D(G(z_n))} = \frac{[D(G(z_n)) > -1]}{N}, \qquad
    \frac{\partial L_G}{\partial D(G(z_n))} = -\frac1N.
    $$

    **At the optimal D.** In expectation D's loss is $\int h(D(x))\, dx$ with

    $$
    h(d) = p_\text{data}(x) \max(0,\, 1 - d) + p_g(x) \max(0,\, 1 + d).
    $$

    For $d \in [-1, 1]$ both maxima are their second arguments, and
    $h(d) = p_\text{data} + p_g - d\, (p_\text{data} - p_g)$ is linear in $d$; outside, $h$
    only grows ($h(d) = p_g (1 + d)$ above 1, $p_\text{data}(1 - d)$ below $-1$). So the
    minimum is at the end of $[-1, 1]$ that the sign of $p_\text{data} - p_g$ picks:

    $$
    \begin{aligned}
    D^*(x) &= \operatorname{sign}\bigl(p_\text{data}(x) - p_g(x)\bigr), \qquad
    h(D^*(x)) = p_\text{data}(x) + p_g(x) - \bigl|p_\text{data}(x) - p_g(x)\bigr|, \\
    L_D^* &= 2 - \int \bigl|p_\text{data}(x) - p_g(x)\bigr|\, dx = 2 - 2\, \mathrm{TV}(p_\text{data}, p_g),
    \end{aligned}
    $$

    the total variation distance $\mathrm{TV}(p_\text{data}, p_g) = \frac12 \int |p_\text{data} - p_g|\, dx$.
    $L_D^* = 2$ when $p_g = p_\text{data}$, where any D with values in $[-1, 1]$ is optimal.
    """

    name = "hinge"
    divergence = "total variation distance"

    def divergence_from(self, d_loss: float) -> float:
        r"""$\mathrm{TV}(p_\text{data}, p_g) = 1 - L_D^*/2$."""
        return 1.0 - float(d_loss) / 2.0

    def discriminator_real(self, out):
        xp = B.get_backend()
        margin = 1.0 - out
        return xp.maximum(margin, 0).mean(), -(margin > 0).astype(out.dtype) / out.size

    def discriminator_fake(self, out):
        xp = B.get_backend()
        margin = 1.0 + out
        return xp.maximum(margin, 0).mean(), (margin > 0).astype(out.dtype) / out.size

    def generator(self, out):
        xp = B.get_backend()
        return -out.mean(), xp.full_like(out, -1.0 / out.size)

    def closed_form(self, real_out: float, fake_out: float) -> dict:
        r"""$L_D = \max(0, 1 - r) + \max(0, 1 + f)$, $L_G = -f$."""
        return {"d_loss": max(0.0, 1.0 - real_out) + max(0.0, 1.0 + fake_out), "g_loss": -fake_out}

    def equilibrium(self) -> dict:
        return {"d_loss": (2.0, "2 (TV = 0)")}  # any D in [-1, 1] is optimal there

    def equilibrium_outputs(self) -> tuple:
        return (-1.0, -0.3, 0.5, 1.0)  # any constant in [-1, 1]: G's loss and D's level are not fixed


@register_loss
class WassersteinLoss(_RawOutput):
    r"""The Wasserstein critic loss (Arjovsky et al. 2017), on D's raw output.

    **D's and G's losses and their gradients**, on $N$ real samples $x_n$ and $N$ fakes
    $G(z_n)$:

    $$
    \begin{aligned}
    L_D &= \frac1N \sum_n D(G(z_n)) - \frac1N \sum_n D(x_n), &
    \frac{\partial L_D}{\partial D(x_n)} &= -\frac1N, \quad \frac{\partial L_D}{\partial D(G(z_n))} = \frac1N, \\
    L_G &= -\frac1N \sum_n D(G(z_n)), &
    \frac{\partial L_G}{\partial D(G(z_n))} &= -\frac1N.
    \end{aligned}
    $$

    **At the optimal critic.** In expectation
    $L_D = \mathbb E_{x \sim p_g}[D(x)] - \mathbb E_{x \sim p_\text{data}}[D(x)]$, which is
    unbounded below over all functions (scale D up), so the critic is restricted to the
    1-Lipschitz functions, $|D(u) - D(v)| \le \|u - v\|$ for all $u$, $v$, written
    $\|D\|_L \le 1$. Over them,

    $$
    \min_{\|D\|_L \le 1} L_D = -\max_{\|D\|_L \le 1} \Bigl(\mathbb E_{x \sim p_\text{data}}[D(x)]
    - \mathbb E_{x \sim p_g}[D(x)]\Bigr) = -W_1(p_\text{data}, p_g)
    $$

    by the Kantorovich-Rubinstein duality, which equates that maximum with the earth mover's
    distance

    $$
    W_1(p_\text{data}, p_g) = \inf_{\pi \in \Pi(p_\text{data}, p_g)} \mathbb E_{(u, v) \sim \pi} \|u - v\|,
    $$

    $\Pi(p_\text{data}, p_g)$ being the joint distributions whose marginals are $p_\text{data}$
    and $p_g$. So the critic's loss estimates minus the earth mover's distance; it is 0 when
    $p_g = p_\text{data}$, where the critic's level is free. A gradient penalty (`--gp`,
    target 1; `npgan.gan.penalties`) keeps the critic near the 1-Lipschitz set.
    """

    name = "wasserstein"
    divergence = "Wasserstein-1 (earth mover's) distance"
    # the WGAN-GP paper's critic schedule: 5 critic steps per G step, Adam's beta2 = 0.9. With
    # npgan's beta2 = 0.999 the ring's samples never sharpened (seed 0: 0.9% high quality after
    # 12,000 steps); with 0.9, after 6,000: 79.6% (lambda 10), 95.6% (1), 97.0% (0.1, the
    # paper's toy-set weight; benchmarks/QUALITY.md)
    defaults = {"d_steps": 5, "betas": [0.5, 0.9]}

    def divergence_from(self, d_loss: float) -> float:
        r"""$W_1(p_\text{data}, p_g) = -L_D^*$ (over 1-Lipschitz critics)."""
        return -float(d_loss)

    def equilibrium(self) -> dict:
        return {"d_loss": (0.0, "0 (W_1 = 0)")}  # the critic's level is free: D(x), D(G(z)) drift

    def equilibrium_outputs(self) -> tuple:
        return (-2.0, 0.0, 3.0)  # any constant: the critic's level is free

    def closed_form(self, real_out: float, fake_out: float) -> dict:
        r"""$L_D = f - r$, $L_G = -f$."""
        return {"d_loss": fake_out - real_out, "g_loss": -fake_out}

    def discriminator_real(self, out):
        xp = B.get_backend()
        return -out.mean(), xp.full_like(out, -1.0 / out.size)

    def discriminator_fake(self, out):
        xp = B.get_backend()
        return out.mean(), xp.full_like(out, 1.0 / out.size)

    def generator(self, out):
        xp = B.get_backend()
        return -out.mean(), xp.full_like(out, -1.0 / out.size)


def _paired(real_out, fake_out, where: str) -> None:
    """A relativistic loss compares sample n of the real batch with sample n of the fakes."""
    if tuple(real_out.shape) != tuple(fake_out.shape):
        raise ValueError(f"{where}: D's outputs on the real and the fake batch are compared pair by pair "
                         f"and must have one shape; got {tuple(real_out.shape)} and {tuple(fake_out.shape)}")


@register_loss
class RelativisticLoss(_RawOutput):
    r"""The relativistic standard GAN (RSGAN, Jolicoeur-Martineau 2018): D judges whether a real sample looks more real than a fake.

    **D's and G's losses.** Let $C$ be D's raw output (a critic value, no sigmoid), pair the
    $N$ real samples $x_n$ with the $N$ fakes $G(z_n)$ by their index, and write

    $$
    \Delta_n = C(x_n) - C\bigl(G(z_n)\bigr).
    $$

    $\sigma(\Delta_n)$ is D's estimate that $x_n$ is more realistic than $G(z_n)$. D
    minimises the cross-entropy of calling the real sample of each pair the more realistic
    one, and G that of calling the fake one so, $L_G$ being $L_D$ with the roles swapped:

    $$
    \begin{aligned}
    L_D &= -\frac1N \sum_n \log \sigma(\Delta_n) = \frac1N \sum_n \operatorname{softplus}(-\Delta_n), \\
    L_G &= -\frac1N \sum_n \log \sigma(-\Delta_n) = \frac1N \sum_n \operatorname{softplus}(\Delta_n),
    \end{aligned}
    $$

    with $\operatorname{softplus}(u) = \log(1 + e^u) = -\log\sigma(-u)$. Neither is a real
    term plus a fake term: the loss is `joint`, and the trainer hands both batches' outputs
    to each method.

    **Gradients.** With $\frac{d}{du}\operatorname{softplus}(u) = \sigma(u)$,
    $\partial\Delta_n/\partial C(x_n) = 1$, $\partial\Delta_n/\partial C(G(z_n)) = -1$ and
    $1 - \sigma(u) = \sigma(-u)$:

    $$
    \begin{aligned}
    \frac{\partial L_D}{\partial C(x_n)} &= \frac{\sigma(\Delta_n) - 1}{N}, &
    \frac{\partial L_D}{\partial C(G(z_n))} &= \frac{1 - \sigma(\Delta_n)}{N}, \\
    \frac{\partial L_G}{\partial C(G(z_n))} &= -\frac{\sigma(\Delta_n)}{N}, &
    \frac{\partial L_G}{\partial C(x_n)} &= \frac{\sigma(\Delta_n)}{N}.
    \end{aligned}
    $$

    D's two gradients are each other's negatives, pair by pair. G's update uses the third
    only: G's parameters do not move $C(x_n)$ (D is fixed while G steps, and $x_n$ is
    data), so the fourth is never needed and `generator` does not return it. Yet $C(x_n)$
    sets the size of G's gradient, $\sigma(\Delta_n)$: G's signal is strong where the fake
    trails its real partner, unlike the separable losses, whose G gradient never sees the
    real batch. In code both losses are the sigmoid cross-entropy of `npgan.losses` with
    target 1, $\ell(u, 1) = \operatorname{softplus}(-u)$, whose gradient is
    $(\sigma(u) - 1)/N$: $L_D = \ell(\Delta, 1)$ and $L_G = \ell(-\Delta, 1)$, and the chain
    rule through $\pm\Delta$ gives the signs above.

    **At $p_g = p_\text{data}$.** The two samples of a pair are then independent draws from
    one distribution, so $\Delta_n$ and $-\Delta_n$ have the same distribution, and in
    expectation

    $$
    L_D = \tfrac12\, \mathbb E\bigl[\operatorname{softplus}(\Delta) + \operatorname{softplus}(-\Delta)\bigr]
    = \tfrac12\, \mathbb E \log\bigl(2 + e^{\Delta} + e^{-\Delta}\bigr) \ge \log 2,
    $$

    since $e^{\Delta} + e^{-\Delta} \ge 2$, with equality exactly where $\Delta = 0$ almost
    surely: D is optimal when it is constant on the data, at any level (the loss sees only
    differences). There $L_D^* = \log 2$ and $L_G = \log 2$: `equilibrium` gives these two
    lines, and none for mean $D(x)$ and $D(G(z))$, the raw critic values (`probability`),
    whose common level is free. For $p_g \ne p_\text{data}$, D's minimal loss is a
    divergence between the two distributions defined by that minimum itself
    (Jolicoeur-Martineau 2019, relativistic f-divergences); this module derives no closed
    form of it in the densities, so `divergence_from` is not given.
    """

    name = "relativistic"
    joint = True

    def discriminator(self, real_out, fake_out):
        _paired(real_out, fake_out, "RelativisticLoss.discriminator")
        value, grad = sigmoid_cross_entropy(real_out - fake_out, 1.0)  # softplus(-Delta), d/dDelta
        return value, grad, -grad

    def generator(self, fake_out, real_out=None):
        if real_out is None:
            raise ValueError("RelativisticLoss.generator: G's loss compares each fake with a real sample; "
                             "pass D's outputs on the real batch as real_out")
        _paired(real_out, fake_out, "RelativisticLoss.generator")
        return sigmoid_cross_entropy(fake_out - real_out, 1.0)  # softplus(Delta), d/d(-Delta)

    def closed_form(self, real_out: float, fake_out: float) -> dict:
        r"""$L_D = \operatorname{softplus}(f - r)$, $L_G = \operatorname{softplus}(r - f)$."""
        return {"d_loss": _softplus(fake_out - real_out), "g_loss": _softplus(real_out - fake_out)}

    def equilibrium(self) -> dict:
        return {"d_loss": (math.log(2.0), "log 2 (D(x) = D(G(z)))"),
                "g_loss": (math.log(2.0), "log 2 (D(x) = D(G(z)))")}

    def equilibrium_outputs(self) -> tuple:
        return (-1.5, 0.0, 2.0)  # any constant: the loss sees only differences
