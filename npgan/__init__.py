"""npgan: generative adversarial networks from scratch, with every backward pass written by hand.

    from npgan import backend, nn, losses, optim, gradcheck
"""

from . import backend, data, gradcheck, losses, metrics, nn, optim
from .gan import GAN, MMDTrainer

__version__ = "0.1.0"

__all__ = ["backend", "nn", "losses", "optim", "gradcheck", "data", "metrics", "GAN", "MMDTrainer", "__version__"]
