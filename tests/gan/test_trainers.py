import math

import numpy as np
import pytest

from helpers import (
    assert_loss_gradients_through_the_trainer,
    assert_param_grads,
    assert_trainer_gradients,
    assert_trainer_resumes_exactly,
    assert_trainer_trains,
)
from npgan import backend as B
from npgan import nn
from npgan.data import get_dataset
from npgan.gan import GAN_LOSSES, TRAINERS, GANTrainer, MMDTrainer, mlp_discriminator, mlp_generator
from npgan.gan.config import OPTION, make_config
from npgan.gan.losses import NonSaturatingLoss
from npgan.gan.runner import build
from npgan.losses import mmd2


def _config(trainer, **options):
    """A small run of `trainer` on ring8, every trainer's own defaults applied, in the dtype the
    test runs in (a run's config sets the dtype when it is built)."""
    return make_config(data="ring8", trainer=trainer, hidden=8, depth=1, batch_size=8, latent_dim=3,
                       dtype=B.get_dtype().name, **options)


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_every_trainer_s_parameter_gradients_match_central_differences(f64, name):
    trainer, ds = build(_config(name))
    assert_trainer_gradients(trainer, ds.sample(6), trainer.sample_noise(6))


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_every_trainer_s_options_are_declared_config_options(name):
    assert set(TRAINERS[name].options) <= set(OPTION), name


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_every_trainer_takes_a_short_run(backend_name, name):
    trainer, ds = build(_config(name))
    assert_trainer_trains(trainer, ds)


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_every_trainer_resumes_from_its_checkpoint_exactly(backend_name, name, tmp_path):
    assert_trainer_resumes_exactly(_config(name), tmp_path)


OPTIONS = [
    dict(),
    dict(loss="minimax"),
    dict(d_steps=3),
    dict(pack=4),
    dict(label_smoothing=0.1),
    dict(noise="uniform"),
]


@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_every_gan_option_trains(backend_name, opts):
    B.seed(0)
    ds = get_dataset("ring8")
    pack = opts.get("pack", 1)
    G, D = mlp_generator(4, 2, 32, 2), mlp_discriminator(2 * pack, 32, 2)
    gan = GANTrainer(G, D, 4, **opts)
    before = B.to_numpy(G[0].weight.data, copy=True)
    for _ in range(3):
        stats = gan.train_step(ds.sample(16 * opts.get("d_steps", 1)))
    assert stats["step"] == 3 and gan.d_opt.t == 3 * opts.get("d_steps", 1) and gan.g_opt.t == 3
    for k in ("d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm"):
        assert math.isfinite(stats[k]), k
    assert 0 < stats["d_real"] < 1 and 0 < stats["d_fake"] < 1
    assert not np.array_equal(before, B.to_numpy(G[0].weight.data))
    assert gan.sample(10).shape == (10, 2)


def test_mmd_trainer_trains(backend_name):
    """A few hundred steps of MMD descent bring the generated samples closer to the data:
    MMD^2 on fresh samples (not the training batches) falls to under half its start."""
    B.seed(0)
    ds = get_dataset("ring8")
    t = MMDTrainer(mlp_generator(2, 2, 32, 2), 2, lr=1e-2)

    def held_out_mmd2():
        with B.preserved_rng():
            B.seed(123)
            return mmd2(t.sample(500), ds.sample(500), t.bandwidths)[0]

    before = held_out_mmd2()
    stats = [t.train_step(ds.sample(128)) for _ in range(300)]
    assert all(math.isfinite(s["mmd2"]) and s["g_grad_norm"] > 0 for s in stats)
    assert held_out_mmd2() < 0.5 * before


def test_bad_options_are_refused(backend_name):
    G, D = mlp_generator(2, 2, 8, 1), mlp_discriminator(2, 8, 1)
    with pytest.raises(ValueError, match="unknown GAN loss"):
        GANTrainer(G, D, 2, loss="energy")
    with pytest.raises(ValueError, match="unknown noise prior"):
        GANTrainer(G, D, 2, noise="cauchy")
    gan = GANTrainer(G, mlp_discriminator(4, 8, 1), 2, pack=2, d_steps=2)
    with pytest.raises(ValueError, match="cannot be split into d_steps=2 minibatches"):
        gan.train_step(B.normal((6, 2)))


@pytest.mark.parametrize("loss", sorted(GAN_LOSSES))
@pytest.mark.parametrize("pack", [1, 2])
def test_every_loss_s_gradients_through_the_trainer(f64, loss, pack):
    """End-to-end backprop L_G -> D -> (unpack) -> G, and L_D -> D, match finite differences."""
    assert_loss_gradients_through_the_trainer(loss, pack)


class _JointNonSaturating(NonSaturatingLoss):
    """The non-saturating loss sent down the trainer's joint path (its `discriminator` is the sum of its terms)."""

    name = "non_saturating_joint"
    joint = True


def test_the_joint_path_replays_d_s_real_pass_exactly(f64):
    """D with Dropout and BatchNorm: the joint path (both outputs, then the real pass run again
    for its backward) gives the separable path's loss, gradients, buffers and random state, bit
    for bit; without the replayed random state the dropout masks, and the gradients, would differ."""
    results = []
    for loss in (NonSaturatingLoss(), _JointNonSaturating()):
        B.seed(5)
        G = nn.Sequential(nn.Dense(2, 6), nn.Tanh(), nn.Dense(6, 2))
        D = nn.Sequential(nn.Dense(2, 8), nn.BatchNorm(8), nn.LeakyReLU(0.2), nn.Dropout(0.5), nn.Dense(8, 1))
        gan = GANTrainer(G, D, 2, loss=loss)
        real, z = B.normal((6, 2)), B.normal((6, 2))
        stats = gan.discriminator_gradients(real, z=z)
        results.append((float(stats["d_loss"]), [B.to_numpy(p.grad, copy=True) for p in D.parameters()],
                        [B.to_numpy(a, copy=True) for _, a in D.named_buffers()], B.normal((3,))))
    (loss_a, grads_a, bufs_a, next_a), (loss_b, grads_b, bufs_b, next_b) = results
    assert loss_a == loss_b and len(bufs_a) == 2
    for a, b in zip(grads_a + bufs_a, grads_b + bufs_b):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(B.to_numpy(next_a), B.to_numpy(next_b))


def test_the_joint_path_s_d_gradient_matches_finite_differences_through_dropout(f64):
    G = nn.Sequential(nn.Dense(2, 4), nn.Tanh(), nn.Dense(4, 2))
    D = nn.Sequential(nn.Dense(2, 6), nn.LeakyReLU(0.2), nn.Dropout(0.3), nn.Dense(6, 1))
    gan = GANTrainer(G, D, 2, loss="relativistic")
    assert_trainer_gradients(gan, B.normal((5, 2)), B.normal((5, 2)))


def test_discriminator_gradient_matches_value_function(f64):
    G = nn.Sequential(nn.Dense(2, 4), nn.Tanh(), nn.Dense(4, 2))
    D = nn.Sequential(nn.Dense(2, 5), nn.Tanh(), nn.Dense(5, 1))
    gan = GANTrainer(G, D, 2, label_smoothing=0.1)
    real, z = B.normal((6, 2)), B.normal((6, 2))
    assert_param_grads(lambda: gan.discriminator_gradients(real, z=z)["d_loss"], D.named_parameters())


@pytest.mark.parametrize("opts", [dict(loss="wasserstein", gp=10.0), dict(r1=5.0),
                                  dict(loss="hinge", gp=1.0, r1=2.0, pack=2),
                                  dict(loss="least_squares", r1=1.0)],
                         ids=["wgan-gp", "r1", "hinge-gp-r1-packed", "lsgan-r1"])
def test_penalised_discriminator_gradient_matches_its_loss(f64, opts):
    """L_D with the penalties in it (its value and its gradient, double backprop included)
    against central differences; the interpolates' random weights are drawn the same each time."""
    pack = opts.get("pack", 1)
    G = nn.Sequential(nn.Dense(2, 4), nn.Tanh(), nn.Dense(4, 2))
    D = nn.Sequential(nn.Dense(2 * pack, 5), nn.Tanh(), nn.LayerNorm(5), nn.Dense(5, 1))
    gan = GANTrainer(G, D, 2, **opts)
    real, z = B.normal((6, 2)), B.normal((6, 2))
    state = B.get_rng_state()

    def d_loss():
        B.set_rng_state(state)
        stats = gan.discriminator_gradients(real, z=z)
        assert ("gp" in stats) == bool(opts.get("gp")) and ("r1" in stats) == bool(opts.get("r1"))
        return float(stats["d_loss"])

    assert_param_grads(d_loss, D.named_parameters())


def test_a_penalty_refuses_a_batchnorm_critic_when_the_trainer_is_built(backend_name):
    D = nn.Sequential(nn.Dense(2, 4), nn.BatchNorm(4), nn.Dense(4, 1))
    with pytest.raises(ValueError, match="use LayerNorm"):
        GANTrainer(mlp_generator(2, 2, 4, 1), D, 2, gp=10.0)
    GANTrainer(mlp_generator(2, 2, 4, 1), D, 2)  # without a penalty BatchNorm is fine


def test_mmd_generator_gradient(f64):
    G = nn.Sequential(nn.Dense(2, 5), nn.Tanh(), nn.Dense(5, 2))
    t = MMDTrainer(G, 2, bandwidths=(0.5, 1.0))
    real, z = B.normal((7, 2)), B.normal((6, 2))
    assert_param_grads(lambda: t.generator_gradients(real, z=z), G.named_parameters())


def _densities_1d(mu_d, s_d, mu_g, s_g, x):
    n = lambda m, s: np.exp(-0.5 * ((x - m) / s) ** 2) / (s * np.sqrt(2 * np.pi))  # noqa: E731
    return n(mu_d, s_d), n(mu_g, s_g)


def _fixed_affine_generator(scale, shift):
    """G(z) = scale * z + shift, so with z ~ N(0, 1), p_g = N(shift, scale^2)."""
    G = nn.Sequential(nn.Dense(1, 1))
    G[0].weight.data[...] = scale
    G[0].bias.data[...] = shift
    return G


def _train_d_alone(gan, ds, steps, batch):
    for _ in range(steps):
        gan.discriminator_step(ds.sample(batch))


def test_discriminator_alone_approaches_the_optimal_d(backend_name):
    """With p_g fixed, D converges to D*(x) = p_data / (p_data + p_g) (Goodfellow et al., Prop. 1).

    Tolerance: the mean |D - D*| over the region holding 99% of the mass of either
    distribution must be below 0.05. A small MLP trained 1500 steps on batches of 512
    has sampling noise of order 1/sqrt(512) ~ 0.04 per step, averaged by Adam's lr decay
    of the error; a D that ignored x (constant 1/2) would be off by 0.3 on average here.
    """
    B.seed(0)
    ds = get_dataset("gauss1d")            # p_data = N(4, 0.5^2)
    G = _fixed_affine_generator(0.5, 3.0)  # p_g   = N(3, 0.5^2)
    D = mlp_discriminator(1, 32, 2)
    gan = GANTrainer(G, D, 1, lr=2e-3, betas=(0.9, 0.999))
    _train_d_alone(gan, ds, 1500, 512)
    x = np.linspace(1.8, 5.2, 200)[:, None]
    pd, pg = _densities_1d(4.0, 0.5, 3.0, 0.5, x)
    d_star = pd / (pd + pg)
    d = B.to_numpy(1 / (1 + B.get_backend().exp(-D.forward(B.asarray(x), training=False))))
    assert np.abs(d - d_star).mean() < 0.05
    assert np.abs(0.5 - d_star).mean() > 0.3  # the check has teeth


def test_value_at_equilibrium_is_minus_log_4(backend_name):
    """When p_g = p_data, D* = 1/2 and V(D*, G) = log(1/2) + log(1/2) = -log 4 (Theorem 1).

    A D trained against G = p_data can only learn sampling noise: its V, estimated on
    20,000 fresh samples, must be within 0.02 of -log 4 (about 7 std of the estimate).
    """
    B.seed(1)
    ds = get_dataset("gauss1d")
    G = _fixed_affine_generator(0.5, 4.0)  # p_g = p_data
    D = mlp_discriminator(1, 32, 2)
    gan = GANTrainer(G, D, 1, lr=1e-3)
    _train_d_alone(gan, ds, 300, 256)
    from npgan.losses import sigmoid_cross_entropy
    real_loss, _ = sigmoid_cross_entropy(D.forward(ds.sample(20000), training=False), 1.0)
    fake_loss, _ = sigmoid_cross_entropy(D.forward(gan.sample(20000), training=False), 0.0)
    value = -(real_loss + fake_loss)
    assert abs(value - (-math.log(4))) < 0.02


def test_generator_step_leaves_the_discriminator_gradients_alone(backend_name):
    """D is frozen in G's update: its .grad keeps what the D step put there."""
    G = nn.Sequential(nn.Dense(2, 8), nn.ReLU(), nn.Dense(8, 2))
    D = nn.Sequential(nn.Dense(2, 8), nn.LeakyReLU(0.2), nn.Dense(8, 1))
    gan = GANTrainer(G, D, 2)
    gan.discriminator_gradients(B.normal((16, 2)))
    before = [B.to_numpy(p.grad, copy=True) for p in D.parameters()]
    gan.generator_gradients(B.normal((16, 2)))
    for b, p in zip(before, D.parameters()):
        np.testing.assert_array_equal(B.to_numpy(p.grad), b)
    assert D.requires_grad and all(layer.requires_grad for layer in D.layers)
    assert any(float(abs(p.grad).max()) > 0 for p in G.parameters())
