"""npgan's demos: the theory made visible, each a module run from the repository root, where
``python -m`` finds both ``demos`` and ``npgan`` without an install:

    python -m demos.gaussian_1d     # D tracks D* = p_data/(p_data+p_g); G as an inverse-CDF transform
    python -m demos.saturation      # minimax against non-saturating generator gradients
    python -m demos.mode_collapse   # a GAN hopping from mode to mode; PacGAN, R1 and MMD beside it
    python -m demos.divergences     # each GAN loss read off a trained D is a divergence

``--help`` describes each one's options; each writes its figures under ``runs/demos/NAME``
unless told ``--out``. The figures need matplotlib (the ``plot`` extra).
"""
