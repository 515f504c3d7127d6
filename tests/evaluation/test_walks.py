"""Latent walks: the paths' geometry, and the figures and animation written from them."""


import numpy as np
import pytest

from npgan import backend as B
from npgan.cli import main
from npgan.evaluation.walks import lerp, slerp, walk


def test_both_paths_start_and_end_at_the_pair(backend_name):
    z0, z1 = B.normal((3, 5)), B.normal((3, 5))
    for path in (lerp, slerp):
        z = B.to_numpy(path(z0, z1, [0.0, 0.3, 1.0]))
        assert z.shape == (3, 3, 5)
        np.testing.assert_allclose(z[:, 0], B.to_numpy(z0), atol=1e-5)
        np.testing.assert_allclose(z[:, -1], B.to_numpy(z1), atol=1e-5)


def test_the_spherical_path_keeps_the_norm_the_straight_one_loses(f64):
    """For z ~ N(0, I) in 100 dimensions |z| ~ 10; the straight midpoint has |z| ~ 7, where the
    prior has almost no mass, the spherical one keeps 10."""
    d = 100
    z0, z1 = B.normal((200, d)), B.normal((200, d))
    r = 10.0
    z0 = z0 / B.get_backend().sqrt((z0 * z0).sum(axis=1, keepdims=True)) * r
    z1 = z1 / B.get_backend().sqrt((z1 * z1).sum(axis=1, keepdims=True)) * r
    norm = lambda z: np.linalg.norm(B.to_numpy(z), axis=-1)  # noqa: E731
    np.testing.assert_allclose(norm(slerp(z0, z1, np.linspace(0, 1, 7))), r, rtol=1e-9)
    mid = norm(lerp(z0, z1, [0.5]))[:, 0]
    assert abs(mid.mean() - r / np.sqrt(2)) < 0.3


def test_parallel_ends_fall_back_to_the_straight_path(f64):
    z0 = B.normal((2, 3))
    np.testing.assert_allclose(B.to_numpy(slerp(z0, 2 * z0, [0.5])), B.to_numpy(lerp(z0, 2 * z0, [0.5])))


def test_walk_shapes_and_errors(backend_name):
    from npgan.gan import GANTrainer, mlp_discriminator, mlp_generator
    gan = GANTrainer(mlp_generator(3, 2, 8, 1), mlp_discriminator(2, 8, 1), 3)
    x, z = walk(gan, pairs=4, steps=5)
    assert x.shape == (4, 5, 2) and z.shape == (4, 5, 3)
    with pytest.raises(ValueError, match="unknown path 'curved'"):
        walk(gan, path="curved")


def test_interpolate_draws_walks_for_2d_and_image_runs(tmp_path, capsys, backend_name):
    pytest.importorskip("matplotlib")
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--steps", "2", "--log-every", "2", "--hidden", "8",
                 "--depth", "1", "--batch-size", "16", "--no-progress"]) == 0
    assert main(["interpolate", str(out), "-o", str(tmp_path / "walk.png"), "--pairs", "3"]) == 0
    assert (tmp_path / "walk.png").stat().st_size > 10_000
    capsys.readouterr()
    assert main(["interpolate", str(out), "-o", str(tmp_path / "walk.txt")]) == 2
    assert "expected a .png file" in capsys.readouterr().err


def test_plot_walks_tiles_a_row_per_pair_and_path(backend_name, tmp_path, monkeypatch):
    """For images: 2 x pairs rows (linear, spherical) of ``steps`` tiles each."""
    from npgan.evaluation import plot
    from npgan.gan import GANTrainer, dcgan28_discriminator, dcgan28_generator
    gan = GANTrainer(dcgan28_generator(4, width=2), dcgan28_discriminator(width=2), 4)
    seen = {}
    grid = plot.image_grid
    monkeypatch.setattr(plot, "image_grid", lambda images, nrow=8: seen.update(n=len(images), nrow=nrow) or grid(images, nrow))
    plot.plot_walks(gan, None, tmp_path / "w.png", pairs=3, steps=5)
    assert seen == {"n": 2 * 3 * 5, "nrow": 5}
    assert (tmp_path / "w.png").stat().st_size > 5_000
