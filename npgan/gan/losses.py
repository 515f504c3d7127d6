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
D's loss at the optimal discriminator.
"""

from __future__ import annotations

from ..losses import sigmoid_cross_entropy
from ..nn.activations import sigmoid

GAN_LOSSES: dict = {}


def register_loss(cls):
    """Class decorator: make a GAN loss available under ``cls.name``."""
    if not cls.name or cls.name in GAN_LOSSES:
        raise ValueError(f"register_loss: {cls.__name__} needs a new, non-empty name (got {cls.name!r})")
    GAN_LOSSES[cls.name] = cls
    return cls


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

    def discriminator_real(self, out):
        return sigmoid_cross_entropy(out, 1.0 - self.label_smoothing)   # -log D(x)

    def discriminator_fake(self, out):
        return sigmoid_cross_entropy(out, 0.0)                          # -log(1 - D(G(z)))

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
