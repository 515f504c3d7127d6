"""Network builders for the trainers (multi-layer perceptrons for the low-dimensional data sets)."""

from __future__ import annotations

from .. import nn


def mlp_generator(latent_dim: int, out_dim: int, hidden: int = 128, depth: int = 2,
                  batchnorm: bool = False):
    """z -> [Dense -> (BatchNorm) -> ReLU] x depth -> Dense -> x (no output squashing)."""
    layers, width = [], latent_dim
    for _ in range(depth):
        layers += [nn.Dense(width, hidden)] + ([nn.BatchNorm(hidden)] if batchnorm else []) + [nn.ReLU()]
        width = hidden
    return nn.Sequential(*layers, nn.Dense(width, out_dim))


def mlp_discriminator(in_dim: int, hidden: int = 128, depth: int = 2, slope: float = 0.2):
    """x -> [Dense -> LeakyReLU] x depth -> Dense -> one logit (no Sigmoid: the loss applies it)."""
    layers, width = [], in_dim
    for _ in range(depth):
        layers += [nn.Dense(width, hidden), nn.LeakyReLU(slope)]
        width = hidden
    return nn.Sequential(*layers, nn.Dense(width, 1))
