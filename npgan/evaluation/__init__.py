"""Everything that measures or draws a generator and never trains one.

* ``metrics``: mode coverage, high-quality share, reverse KL, MMD^2, the Frechet
  distance and class coverage;
* ``classifier``: the small Fashion-MNIST classifier (trained with npgan) whose
  features give the Frechet distance;
* ``evaluators``: what a training run measures and draws at each logging step,
  per kind of data;
* ``plot``: the figures (matplotlib, the ``plot`` extra).
"""

from . import classifier, evaluators, metrics, plot

__all__ = ["metrics", "classifier", "evaluators", "plot"]
