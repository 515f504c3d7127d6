"""Everything that measures or draws a generator and never trains one.

* ``metrics``: mode coverage, high-quality share, reverse KL, MMD^2, the Frechet
  distance and class coverage;
* ``classifier``: the small Fashion-MNIST classifier (trained with npgan) whose
  features give the Frechet distance;
* ``plot``: the figures (matplotlib, the ``plot`` extra).

What a training run measures and draws at each logging step (it reads the run's config and
draws from its trainer) is ``npgan.gan.evaluators``, one layer up.
"""

from . import classifier, metrics, plot

__all__ = ["metrics", "classifier", "plot"]
