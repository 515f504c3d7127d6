"""Class-conditional GANs: the label plumbing's gradients, and generation by class."""

import json

import numpy as np
import pytest

from helpers import assert_param_grads
from npgan import backend as B
from npgan import nn
from npgan.cli import main
from npgan.gan import GAN_LOSSES, GANTrainer
from npgan.gan.conditional import balanced_labels, one_hot, with_labels, without_labels
from npgan.gan.config import make_config
from npgan.gan.runner import train


def test_labels_join_vectors_as_columns_and_images_as_channels(backend_name):
    y = np.array([2, 0, 1])
    np.testing.assert_array_equal(B.to_numpy(one_hot(y, 3)), np.eye(3)[y])
    v = with_labels(B.normal((3, 4)), y, 3)
    assert v.shape == (3, 7) and B.to_numpy(v)[0, 4 + 2] == 1
    im = with_labels(B.normal((3, 1, 5, 5)), y, 3)
    assert im.shape == (3, 4, 5, 5)
    np.testing.assert_array_equal(B.to_numpy(im)[:, 1:].sum(axis=(2, 3)), 25 * np.eye(3)[y])
    with pytest.raises(ValueError, match=r"labels must be a 1-D array of integers in \[0, 3\)"):
        one_hot(np.array([0, 3]), 3)
    np.testing.assert_array_equal(balanced_labels(7, 3), [0, 1, 2, 0, 1, 2, 0])


def test_without_labels_is_the_adjoint_of_with_labels(f64):
    """<with_labels(x), g> = <x, without_labels(g)> + (a term free of x): the slice is the
    gradient of the concatenation with respect to x."""
    x, y = B.normal((4, 2, 3, 3)), np.array([0, 1, 1, 0])
    g = B.normal((4, 4, 3, 3))
    lhs = float((with_labels(x, y, 2) * g).sum())
    rhs = float((x * without_labels(g, 2)).sum()) + float((with_labels(B.get_backend().zeros_like(x), y, 2) * g).sum())
    assert lhs == pytest.approx(rhs, rel=1e-12)


@pytest.mark.parametrize("loss", sorted(GAN_LOSSES))
@pytest.mark.parametrize("pack", [1, 2])
def test_conditional_gradients_match_central_differences(f64, pack, loss):
    k = 3
    G = nn.Sequential(nn.Dense(2 + k, 6), nn.Tanh(), nn.Dense(6, 2))
    D = nn.Sequential(nn.Dense((2 + k) * pack, 5), nn.Tanh(), nn.Dense(5, 1))
    gan = GANTrainer(G, D, 2, num_classes=k, pack=pack, loss=loss)
    real, z, labels = B.normal((4, 2)), B.normal((4, 2)), np.array([0, 2, 1, 2])
    assert_param_grads(lambda: gan.generator_gradients(real, z=z, labels=labels), G.named_parameters())
    assert_param_grads(lambda: gan.discriminator_gradients(real, z=z, labels=labels)["d_loss"],
                       D.named_parameters())


def test_refusals(backend_name):
    G, D = nn.Sequential(nn.Dense(5, 2)), nn.Sequential(nn.Dense(5, 1))
    gan = GANTrainer(G, D, 2, num_classes=3)
    with pytest.raises(ValueError, match="needs the real samples' labels"):
        gan.train_step(B.normal((4, 2)))
    with pytest.raises(ValueError, match="takes no gradient penalty"):
        GANTrainer(G, D, 2, num_classes=3, gp=10.0)
    joint = GANTrainer(G, D, 2, num_classes=3, loss="relativistic")  # G's loss compares each fake with a real sample
    with pytest.raises(ValueError, match="G's step needs the real samples' labels"):
        joint.generator_gradients(B.normal((4, 2)))
    stats = joint.train_step(B.normal((4, 2)), labels=np.array([0, 1, 2, 0]))
    assert all(np.isfinite(float(stats[k])) for k in ("d_loss", "g_loss"))
    plain = GANTrainer(nn.Sequential(nn.Dense(2, 2)), nn.Sequential(nn.Dense(2, 1)), 2)
    with pytest.raises(ValueError, match="is not conditional"):
        plain.sample(3, labels=np.zeros(3, dtype=int))


def test_a_conditional_ring_puts_each_label_on_its_mode(tmp_path, capsys, backend_name):
    cfg = make_config(data="ring8", conditional=True, steps=1000, log_every=500, hidden=64, depth=2,
                      eval_samples=800, eval_mmd=100)
    final = train(cfg, tmp_path / "run", progress=False, plots=False)
    assert final["label_accuracy"] > 0.9, final
    rec = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert len(rec["label_accuracy_per_class"]) == 8
    assert main(["sample", str(tmp_path / "run"), "--label", "3", "-n", "200", "-o", str(tmp_path / "l3.npy")]) == 0
    mean = np.load(tmp_path / "l3.npy").mean(axis=0)
    np.testing.assert_allclose(mean, [np.cos(3 * np.pi / 4), np.sin(3 * np.pi / 4)], atol=0.1)
    capsys.readouterr()
    assert main(["sample", str(tmp_path / "run"), "--label", "8", "-o", str(tmp_path / "x.npy")]) == 2
    assert "classes 0..7" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "run")]) == 0  # the training log's measures, labels included
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["samples"] == 800 and evaluated["label_accuracy"] > 0.9
    assert len(evaluated["label_accuracy_per_class"]) == 8
