import numpy as np
import pytest

from npgan import backend as B
from npgan.data import DATASETS, get_dataset


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_samples_follow_the_mixture(backend_name, name):
    ds = get_dataset(name)
    B.seed(0)
    x = B.to_numpy(ds.sample(20000)).astype(np.float64)
    assert x.shape == (20000, ds.dim)
    modes = ds.modes()
    nearest = ((x[:, None] - modes[None]) ** 2).sum(-1).argmin(1)
    counts = np.bincount(nearest, minlength=ds.n_modes)
    # equal weights: each mode gets n/K, binomial std sqrt(n p (1-p)); allow 5 std
    p = 1 / ds.n_modes
    assert np.abs(counts - 20000 * p).max() <= 5 * np.sqrt(20000 * p * (1 - p))
    resid = x - modes[nearest]
    assert abs(resid.std() - ds.std) < 0.05 * ds.std


def test_published_settings():
    ring, grid = get_dataset("ring8"), get_dataset("grid25")
    np.testing.assert_allclose(np.linalg.norm(ring.modes(), axis=1), 1.0)
    assert ring.std == 0.01 and grid.std == 0.05
    assert sorted(set(grid.modes()[:, 0])) == [-4, -2, 0, 2, 4]
    g = get_dataset("gauss1d")
    assert g.means == ((4.0,),) and g.std == 0.5


def test_density_and_inverse_cdf():
    g = get_dataset("gauss1d")
    grid = np.linspace(0, 8, 4001)
    assert abs(np.trapezoid(g.density(grid), grid) - 1) < 1e-6
    np.testing.assert_allclose(g.cdf_inverse([0.5, 0.8413447460685429]), [4.0, 4.5], rtol=1e-9)


def test_unknown_name_lists_the_choices():
    with pytest.raises(ValueError, match="unknown data set 'mnist'; choose from bimodal1d, gauss1d, grid25, ring8, fashion-mnist"):
        get_dataset("mnist")
