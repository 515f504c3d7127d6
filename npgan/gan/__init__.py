"""Trainers: adversarial (``GAN``) and direct MMD (``MMDTrainer``), and network builders."""

from .adversarial import GAN, pack_samples
from .base import Trainer, read_config
from .mmd import MMDTrainer
from .models import dcgan28_discriminator, dcgan28_generator, mlp_discriminator, mlp_generator

__all__ = ["GAN", "MMDTrainer", "Trainer", "read_config", "pack_samples",
           "mlp_generator", "mlp_discriminator", "dcgan28_generator", "dcgan28_discriminator"]
