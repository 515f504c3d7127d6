r"""The losses of the game: what D and G each minimise, as functions of D's outputs.

A GAN loss is one class, registered under its name in ``GAN_LOSSES``
(``@register_loss``); ``GANTrainer(loss=NAME)``, ``npgan train --loss NAME`` and the
recipes find it there. D's loss is a sum of a term on the real samples and a term on
the fakes, so a class gives three ``(value, dL/d output)`` pairs, each the mean over
the batch:

* ``discriminator_real(out)``: D's loss term on D(x), x real;
* ``discriminator_fake(out)``: D's loss term on D(G(z));
* ``generator(out)``: G's loss on D(G(z)).

``out`` is the discriminator's raw output (a logit, shape (N, 1)); backprop starts
from the returned gradient. ``probability(out)`` is what the training log reports as
mean D(x) and D(G(z)). Each docstring gives the loss, its gradient and the value of
D's loss at the optimal discriminator, which is an affine function of a divergence
between p_data and p_g: ``divergence`` names it and ``divergence_from(L_D)`` inverts
that map (``demos/divergences.py`` reads each divergence off a trained D this way).
"""

from __future__ import annotations

import math

from .. import backend as B
from ..losses import sigmoid_cross_entropy
from ..nn.activations import sigmoid
from .base import make_registrar

GAN_LOSSES: dict = {}


register_loss = make_registrar(GAN_LOSSES, "register_loss")  # @register_loss on a GANLoss class


def make_loss(loss="non_saturating", **options) -> "GANLoss":
    """A ``GANLoss`` from its registered name (``options`` go to its constructor), or ``loss``
    itself when it is one already."""
    if isinstance(loss, GANLoss):
        return loss
    if loss not in GAN_LOSSES:
        raise ValueError(f"unknown GAN loss {loss!r}; expected one of {tuple(GAN_LOSSES)}")
    return GAN_LOSSES[loss](**options)


class GANLoss:
    """Base class; see the module docstring for the contract."""

    name = ""
    divergence = ""
    defaults: dict = {}  # config settings this loss trains best with (above the recipes, below flags)

    def divergence_from(self, d_loss: float) -> float:  # pragma: no cover - abstract
        """The divergence between p_data and p_g that D's loss ``d_loss`` equals at the optimal D."""
        raise NotImplementedError

    def __init__(self, label_smoothing: float = 0.0):
        if label_smoothing:
            raise ValueError(f"the {self.name} loss has no label smoothing (got {label_smoothing})")

    def discriminator_real(self, out):  # pragma: no cover - abstract
        raise NotImplementedError

    def discriminator_fake(self, out):  # pragma: no cover - abstract
        raise NotImplementedError

    def generator(self, out):  # pragma: no cover - abstract
        raise NotImplementedError

    def probability(self, out):
        """D's output as the probability that a sample is real: sigmoid of the logit."""
        return sigmoid(out)

    def equilibrium(self) -> dict:
        """Where the theory says the logged figures end when p_g = p_data and D is optimal:
        ``{"d_loss": (value, label), ...}`` for the ones that are determined (the loss curves
        draw them as reference lines)."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class _CrossEntropyGame(GANLoss):
    r"""The sigmoid cross-entropy game of Goodfellow et al. (2014), for D = sigmoid(logit)::

        V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))]

    D maximises V, i.e. minimises L_D = l(D(x), 1 - s) + l(D(G(z)), 0) = -V, where
    l(logit, t) is the sigmoid cross-entropy (``npgan.losses.sigmoid_cross_entropy``,
    gradient sigmoid(logit) - t) and s the one-sided label smoothing (Salimans et al.
    2016; 0 by default). At the optimal D* = p_data / (p_data + p_g), -V = log 4 - 2 JSD(p_data
    || p_g): log 4 when p_g = p_data, where D* = 1/2 everywhere.
    """

    def __init__(self, label_smoothing: float = 0.0):
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    divergence = "Jensen-Shannon divergence"

    def divergence_from(self, d_loss: float) -> float:
        """JSD = (log 4 - L_D*) / 2 (without label smoothing)."""
        return (math.log(4.0) - float(d_loss)) / 2.0

    def discriminator_real(self, out):
        return sigmoid_cross_entropy(out, 1.0 - self.label_smoothing)   # -log D(x)

    def discriminator_fake(self, out):
        return sigmoid_cross_entropy(out, 0.0)                          # -log(1 - D(G(z)))

    def equilibrium(self) -> dict:
        if self.label_smoothing:  # D* = (1 - s) / 2 there: the lines below would not hold
            return {}
        return {"d_loss": (math.log(4.0), "log 4 (D = 1/2)"), "d_real": (0.5, "1/2"), "d_fake": (0.5, "1/2")}

    def __repr__(self) -> str:
        smooth = f"label_smoothing={self.label_smoothing}" if self.label_smoothing else ""
        return f"{type(self).__name__}({smooth})"


@register_loss
class NonSaturatingLoss(_CrossEntropyGame):
    r"""The non-saturating generator loss (the 2014 paper's advice; the default)::

        L_G = -log D(G(z)) = l(logit, 1),     dL_G/dlogit = (sigmoid(logit) - 1) / N

    Same fixed point as the minimax loss, but a gradient near -1/N per sample when D
    confidently rejects the fakes (D(G(z)) -> 0), exactly early in training.
    """

    name = "non_saturating"

    def generator(self, out):
        return sigmoid_cross_entropy(out, 1.0)

    def equilibrium(self) -> dict:
        base = super().equilibrium()
        return {**base, "g_loss": (math.log(2.0), "log 2 (D = 1/2)")} if base else {}


@register_loss
class MinimaxLoss(_CrossEntropyGame):
    r"""The minimax generator loss, the game's own: G minimises V's second term::

        L_G = log(1 - D(G(z))) = -l(logit, 0),     dL_G/dlogit = -sigmoid(logit) / N

    Its gradient vanishes as D(G(z)) -> 0: the generator learns nothing while D wins
    (``demos/saturation.py`` shows it).
    """

    name = "minimax"

    def generator(self, out):
        value, grad = sigmoid_cross_entropy(out, 0.0)
        return -value, -grad

    def equilibrium(self) -> dict:
        base = super().equilibrium()
        return {**base, "g_loss": (-math.log(2.0), "-log 2 (D = 1/2)")} if base else {}


class _RawOutput(GANLoss):
    """Losses on D's raw output (no sigmoid): the log reports mean D(x), D(G(z)) as they are."""

    def probability(self, out):
        return out


@register_loss
class LeastSquaresLoss(_RawOutput):
    r"""Least squares (LSGAN, Mao et al. 2017), with targets a (fake), b (real) for D and c for G::

        L_D = 1/2 mean (D(x) - b)^2 + 1/2 mean (D(G(z)) - a)^2     dL_D/dD = (D - b)/N, (D - a)/N
        L_G = 1/2 mean (D(G(z)) - c)^2                            dL_G/dD = (D - c)/N

    Defaults a = 0, b = c = 1. The optimal D* = (b p_data + a p_g) / (p_data + p_g); at it,
    with a = 0, b = 1, L_D* = 1/2 int p_data p_g / (p_data + p_g) = 1/4 - chi2(p_data || m) / 4,
    the Pearson chi-squared divergence from the mixture m = (p_data + p_g) / 2
    (1/4 when p_g = p_data, where D* = 1/2).
    """

    name = "least_squares"
    divergence = "Pearson chi^2 divergence from the mixture"

    def divergence_from(self, d_loss: float) -> float:
        """chi2(p_data || m) = 1 - 4 L_D* / (b - a)^2  (L_D* = (b - a)^2 (1 - chi2) / 4)."""
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

    def equilibrium(self) -> dict:
        """D* = (a + b)/2 everywhere; L_D* = (b - a)^2 / 4, L_G = ((a + b)/2 - c)^2 / 2."""
        mid = (self.a + self.b) / 2
        return {"d_loss": ((self.b - self.a) ** 2 / 4, f"(b - a)^2/4 (D = {mid:g})"),
                "g_loss": ((mid - self.c) ** 2 / 2, f"(D - c)^2/2 (D = {mid:g})"),
                "d_real": (mid, f"{mid:g}"), "d_fake": (mid, f"{mid:g}")}


@register_loss
class HingeLoss(_RawOutput):
    r"""The hinge loss (Lim & Ye 2017; Miyato et al. 2018)::

        L_D = mean max(0, 1 - D(x)) + mean max(0, 1 + D(G(z)))
              dL_D/dD = -[D(x) < 1] / N,   [D(G(z)) > -1] / N
        L_G = -mean D(G(z))                dL_G/dD = -1 / N

    The optimal D* = sign(p_data - p_g) (in [-1, 1]); at it L_D* = 2 - int |p_data - p_g|
    = 2 - 2 TV(p_data, p_g), the total variation distance (2 when p_g = p_data).
    """

    name = "hinge"
    divergence = "total variation distance"

    def divergence_from(self, d_loss: float) -> float:
        """TV = 1 - L_D* / 2."""
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

    def equilibrium(self) -> dict:
        return {"d_loss": (2.0, "2 (TV = 0)")}  # any D in [-1, 1] is optimal there


@register_loss
class WassersteinLoss(_RawOutput):
    r"""The Wasserstein critic loss (Arjovsky et al. 2017)::

        L_D = mean D(G(z)) - mean D(x)     dL_D/dD = -1/N (real), +1/N (fake)
        L_G = -mean D(G(z))                dL_G/dD = -1/N

    Over 1-Lipschitz critics, min L_D = -W_1(p_data, p_g) (Kantorovich-Rubinstein
    duality): the critic's loss estimates minus the earth mover's distance. A gradient
    penalty (``--gp``, target 1) keeps the critic near that set.
    """

    name = "wasserstein"
    divergence = "Wasserstein-1 (earth mover's) distance"
    # the WGAN-GP paper's critic schedule: 5 critic steps per G step, Adam's beta2 = 0.9. With
    # npgan's beta2 = 0.999 the ring's samples never sharpened (seed 0: 0.9% high quality after
    # 12,000 steps); with 0.9, after 6,000: 79.6% (lambda 10), 95.6% (1), 97.0% (0.1, the
    # paper's toy-set weight; benchmarks/QUALITY.md)
    defaults = {"d_steps": 5, "betas": [0.5, 0.9]}

    def divergence_from(self, d_loss: float) -> float:
        """W_1 = -L_D* (over 1-Lipschitz critics)."""
        return -float(d_loss)

    def equilibrium(self) -> dict:
        return {"d_loss": (0.0, "0 (W_1 = 0)")}  # the critic's level is free: D(x), D(G(z)) drift

    def discriminator_real(self, out):
        xp = B.get_backend()
        return -out.mean(), xp.full_like(out, -1.0 / out.size)

    def discriminator_fake(self, out):
        xp = B.get_backend()
        return out.mean(), xp.full_like(out, 1.0 / out.size)

    def generator(self, out):
        xp = B.get_backend()
        return -out.mean(), xp.full_like(out, -1.0 / out.size)
