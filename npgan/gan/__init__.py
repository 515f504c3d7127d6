"""Trainers: adversarial (``GAN``) and direct MMD (``MMDTrainer``), and network builders."""

from .adversarial import GAN, pack_samples
from .base import Trainer, read_config
from .mmd import MMDTrainer
from .models import mlp_discriminator, mlp_generator

__all__ = ["GAN", "MMDTrainer", "Trainer", "read_config", "pack_samples",
           "mlp_generator", "mlp_discriminator"]
