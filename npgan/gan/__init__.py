"""Trainers (``GANTrainer``, ``MMDTrainer``), the losses of the game, configs, models and runs.

* ``base``: the ``Trainer`` base class and the ``TRAINERS`` registry;
* ``adversarial``: ``GANTrainer`` (k D steps per G step, label smoothing, packing);
* ``mmd``: ``MMDTrainer`` (a generator trained directly by MMD^2, no discriminator);
* ``losses``: the GAN losses as objects, and the ``GAN_LOSSES`` registry;
* ``models``: network builders (MLPs, DCGAN-28);
* ``config``: defaults, per-data-set recipes and checks of a run's config;
* ``runner``: a run folder: train, checkpoint, log, plot, resume;
* ``evaluators``: what a run measures and draws at each logging step, per kind of data.
"""

from .adversarial import GANTrainer, pack_samples
from .base import TRAINERS, Trainer, read_config, register_trainer
from .losses import GAN_LOSSES, GANLoss, make_loss, register_loss
from .mmd import MMDTrainer
from .models import dcgan28_discriminator, dcgan28_generator, mlp_discriminator, mlp_generator

__all__ = ["GANTrainer", "MMDTrainer", "Trainer", "TRAINERS", "register_trainer",
           "GANLoss", "GAN_LOSSES", "register_loss", "make_loss", "read_config", "pack_samples",
           "mlp_generator", "mlp_discriminator", "dcgan28_generator", "dcgan28_discriminator"]
