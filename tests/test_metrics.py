import math

import numpy as np
import pytest

from npgan import backend as B
from npgan.data import get_dataset
from npgan.metrics import mmd2, mode_metrics

RING = get_dataset("ring8")


def test_all_modes_evenly_covered():
    x = np.repeat(RING.modes(), 100, axis=0) + 0.001
    m = mode_metrics(x, RING.modes(), RING.std)
    assert m == {"modes": 8, "n_modes": 8, "high_quality": 1.0, "reverse_kl": pytest.approx(0.0, abs=1e-12)}


def test_one_mode_only():
    x = np.repeat(RING.modes()[:1], 500, axis=0)
    m = mode_metrics(x, RING.modes(), RING.std)
    assert m["modes"] == 1 and m["high_quality"] == 1.0
    assert m["reverse_kl"] == pytest.approx(math.log(8))


def test_off_mode_noise_is_not_high_quality():
    x = np.full((300, 2), 0.5)  # between the modes: 0.5..0.7 away from each
    m = mode_metrics(x, RING.modes(), RING.std)
    assert m["modes"] == 0 and m["high_quality"] == 0.0 and m["reverse_kl"] == pytest.approx(math.log(8))


def test_mixed_sets():
    x = np.concatenate([np.repeat(RING.modes()[:4], 50, axis=0),  # 4 modes, 200 samples
                        np.full((200, 2), 3.0)])                  # 200 far away
    m = mode_metrics(x, RING.modes(), RING.std)
    assert m["modes"] == 4 and m["high_quality"] == 0.5
    assert m["reverse_kl"] == pytest.approx(math.log(2))  # uniform over half the modes


def test_real_data_scores_as_expected(backend_name):
    B.seed(0)
    m = mode_metrics(RING.sample(2500), RING.modes(), RING.std)
    # P(|N(0, s^2 I_2)| <= 3s) = 1 - exp(-4.5) = 0.9889 for 2-D Gaussians
    assert m["modes"] == 8 and abs(m["high_quality"] - (1 - math.exp(-4.5))) < 0.01


def test_mmd2_separates_distributions(backend_name):
    B.seed(1)
    same = mmd2(RING.sample(800), RING.sample(800))
    shifted = mmd2(RING.sample(800), RING.sample(800) + 0.3)
    assert abs(same) < 0.01 < shifted


def test_shape_error():
    with pytest.raises(ValueError, match=r"expected samples of shape \(n, 2\), received \(5, 3\)"):
        mode_metrics(np.zeros((5, 3)), RING.modes(), RING.std)
