"""npgan's benchmarks: speed (beside PyTorch where it is installed), and seeded quality sweeps.

Each benchmark is a module of this package, run from the repository root, where ``python -m``
finds both ``benchmarks`` and ``npgan`` without an install:

    python -m benchmarks.iteration --threads 2     # a full GAN iteration, npgan against PyTorch
    python -m benchmarks.layers --threads 2        # Conv2D / ConvTranspose2D at DCGAN sizes
    python -m benchmarks.profile_step              # where an iteration's time goes, per layer pass
    python -m benchmarks.compare BEFORE_TREE       # the same iteration in two source trees, in turn
    python -m benchmarks.penalty                   # what a gradient penalty costs a D step
    python -m benchmarks.contention                # training speed beside busy processes
    python -m benchmarks.quality                   # modes captured over seeds
    python -m benchmarks.mode_profile RUN/checkpoint.npz
    python -m benchmarks.baselines                 # the Fashion-MNIST baseline table over seeds
    python -m benchmarks.gpu_check                 # validate a GPU machine

``--help`` describes each one's options. What they share (the process's set-up, the seeded
backend, the timing helpers and the one header line of every table) is ``benchmarks.common``.
Importing this package imports neither NumPy nor npgan: a timing benchmark pins its thread
counts first (``common.prepare_process``), because NumPy's BLAS reads them once, when it
loads, so those benchmarks import npgan inside their functions.
"""
