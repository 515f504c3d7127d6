"""Weight initialisers, all drawn from npgan's seeded generator (``backend.seed``).

``fan_in`` is the number of inputs feeding one output unit: ``in_features``
for Dense, ``in_channels * kh * kw`` for Conv2D and ``out_channels * kh * kw``
for ConvTranspose2D (PyTorch computes it from the weight's dimension 1).

=============  ================================================  ====================
name           weight                                            bias
=============  ================================================  ====================
``"pytorch"``  U(-1/sqrt(fan_in), 1/sqrt(fan_in))                same range
               (PyTorch's default: kaiming_uniform with a=sqrt5)
``"he"``       N(0, 2/fan_in)      (He et al. 2015, for ReLU)     0
``"glorot"``   U(-a, a), a = sqrt(6/(fan_in+fan_out))             0
``"dcgan"``    N(0, 0.02^2)        (Radford et al. 2016)          0
=============  ================================================  ====================
"""

from __future__ import annotations

import math

from .. import backend as B

INITS = ("pytorch", "he", "glorot", "dcgan")


def init_weight_bias(init: str, w_shape, b_shape, fan_in: int, fan_out: int):
    """Draw (weight, bias) of the given shapes with the named scheme."""
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; expected one of {INITS}")
    xp = B.get_backend()
    if init == "pytorch":
        bound = 1.0 / math.sqrt(fan_in)
        return B.uniform(w_shape, -bound, bound), B.uniform(b_shape, -bound, bound)
    if init == "he":
        w = B.normal(w_shape, 0.0, math.sqrt(2.0 / fan_in))
    elif init == "glorot":
        a = math.sqrt(6.0 / (fan_in + fan_out))
        w = B.uniform(w_shape, -a, a)
    else:
        w = B.normal(w_shape, 0.0, 0.02)
    return w, xp.zeros(b_shape, dtype=B.get_dtype())
