"""npgan: generative adversarial networks from scratch, with every backward pass written by hand.

    from npgan import backend, nn, losses, optim, gradcheck
"""

from . import backend, gradcheck, losses, nn, optim

__version__ = "0.1.0"

__all__ = ["backend", "nn", "losses", "optim", "gradcheck", "__version__"]
