"""Network builders for the trainers: multi-layer perceptrons (any data) and DCGAN (28x28 images)."""

from __future__ import annotations

from .. import nn
from ..data import is_image


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


def dcgan28_generator(latent_dim: int = 100, width: int = 64):
    """DCGAN generator for 28x28x1 images (Radford et al. 2016, sized for MNIST):

    z (N, latent) -> Dense -> (2w, 7, 7) -> BN -> ReLU -> ConvT(2w -> w, k4 s2 p1): 14x14
    -> BN -> ReLU -> ConvT(w -> 1, k4 s2 p1): 28x28 -> Tanh. Weights N(0, 0.02).
    """
    c = 2 * width
    return nn.Sequential(
        nn.Dense(latent_dim, c * 7 * 7, init="dcgan"), nn.Reshape((c, 7, 7)), nn.BatchNorm(c), nn.ReLU(),
        nn.ConvTranspose2D(c, width, 4, stride=2, padding=1, bias=False, init="dcgan"),
        nn.BatchNorm(width), nn.ReLU(),
        nn.ConvTranspose2D(width, 1, 4, stride=2, padding=1, init="dcgan"), nn.Tanh())


def dcgan28_discriminator(width: int = 64, in_channels: int = 1, norm: str = "batch"):
    """DCGAN discriminator for 28x28 images: Conv(1 -> w, k4 s2 p1): 14x14 -> LeakyReLU(0.2)
    -> Conv(w -> 2w, k4 s2 p1): 7x7 -> norm -> LeakyReLU(0.2) -> Flatten -> Dense -> one logit.

    ``norm``: "batch" (DCGAN's BatchNorm), "layer" (LayerNorm over (2w, 7, 7): the critic of
    a gradient penalty, which BatchNorm would break), "spectral" (every Conv2D and the final
    Dense wrapped in ``nn.SpectralNorm``, no BatchNorm or LayerNorm: Miyato et al. 2018) or "none"."""
    if norm not in ("batch", "layer", "spectral", "none"):
        raise ValueError(f"dcgan28_discriminator: norm must be 'batch', 'layer', 'spectral' or 'none', got {norm!r}")
    c = 2 * width
    normaliser = {"batch": [nn.BatchNorm(c)], "layer": [nn.LayerNorm((c, 7, 7))]}.get(norm, [])
    sn = nn.SpectralNorm if norm == "spectral" else (lambda layer: layer)
    return nn.Sequential(
        sn(nn.Conv2D(in_channels, width, 4, stride=2, padding=1, init="dcgan")), nn.LeakyReLU(0.2),
        sn(nn.Conv2D(width, c, 4, stride=2, padding=1, bias=not normaliser, init="dcgan")), *normaliser,
        nn.LeakyReLU(0.2), nn.Flatten(), sn(nn.Dense(c * 7 * 7, 1, init="dcgan")))


def mlp_image_generator(latent_dim: int, shape, hidden: int = 256, depth: int = 2):
    """z -> MLP -> Tanh -> (C, H, W): the fully connected generator of the 2014 paper, for images."""
    size = 1
    for s in shape:
        size *= int(s)
    return nn.Sequential(mlp_generator(latent_dim, size, hidden, depth), nn.Tanh(), nn.Reshape(tuple(shape)))


def mlp_image_discriminator(shape, hidden: int = 256, depth: int = 2, pack: int = 1):
    """(pack*C, H, W) -> Flatten -> MLP -> one logit."""
    size = pack
    for s in shape:
        size *= int(s)
    return nn.Sequential(nn.Flatten(), mlp_discriminator(size, hidden, depth))


MODELS = ("mlp", "dcgan")  # network families a config can name ("dcgan": 1x28x28 images)
D_NORMS = ("auto", "batch", "layer", "spectral", "none")


def build_networks(cfg: dict, dataset, discriminator: bool = True):
    """(generator, discriminator or None) for a config's model and data set."""
    k = dataset.num_classes if cfg.get("conditional") else 0  # one-hot labels join G's and D's inputs
    z, m = cfg["latent_dim"] + k, cfg["pack"]
    if not is_image(cfg["data"]):
        G = mlp_generator(z, dataset.dim, cfg["hidden"], cfg["depth"], batchnorm=cfg["g_batchnorm"])
        D = mlp_discriminator((dataset.dim + k) * m, cfg["hidden"], cfg["depth"]) if discriminator else None
        return G, D
    c, h, w = dataset.shape
    if cfg["model"] == "mlp":
        G = mlp_image_generator(z, dataset.shape, cfg["hidden"], cfg["depth"])
        D = mlp_image_discriminator((c + k, h, w), cfg["hidden"], cfg["depth"], pack=m) if discriminator else None
        return G, D
    if dataset.shape != (1, 28, 28):
        raise ValueError(f"model dcgan is built for 1x28x28 images; {cfg['data']} has {dataset.shape}")
    norm = cfg["d_norm"] if cfg["d_norm"] != "auto" else ("layer" if cfg["gp"] or cfg["r1"] else "batch")
    D = dcgan28_discriminator(cfg["width"], in_channels=(1 + k) * m, norm=norm) if discriminator else None
    return dcgan28_generator(z, cfg["width"]), D
