"""npgan: generative adversarial networks from scratch, with every backward pass written by hand.

    from npgan import backend, nn, losses, optim, gradcheck
"""

from . import backend, data, evaluation, gradcheck, losses, nn, optim, training
from .gan import GANTrainer, MMDTrainer

__version__ = "0.1.0"

__all__ = ["backend", "nn", "losses", "optim", "gradcheck", "data", "evaluation", "training",
           "GANTrainer", "MMDTrainer", "__version__"]
