r"""Walks through latent space: what the generator does between two noise vectors.

Between z0 and z1 (t from 0 to 1)::

    linear:     z(t) = (1 - t) z0 + t z1
    spherical:  z(t) = sin((1 - t) w) / sin(w) z0 + sin(t w) / sin(w) z1,   cos(w) = <z0, z1> / (|z0| |z1|)

Which one to walk depends on the prior. Under z ~ N(0, I) in d dimensions, |z| concentrates
at sqrt(d) (for d = 100: 10 +- 0.7), and the straight path's midpoint has norm about
sqrt(d / 2): a vector the generator almost never saw in training. The spherical path keeps
the norm (exactly, for |z0| = |z1|), so it stays where the prior puts its mass (White 2016).
Under z ~ U[-1, 1]^d the prior is a cube, which the straight path never leaves.
"""

from __future__ import annotations

from .. import backend as B


def lerp(z0, z1, t):
    """Points on the straight path: z0, z1 (n, d), t (k,) -> (n, k, d)."""
    t = B.asarray(B.host.asarray(t, dtype=B.host.float64)).reshape(1, -1, 1)
    return (1 - t) * z0[:, None, :] + t * z1[:, None, :]


def slerp(z0, z1, t):
    """Points on the spherical path (the straight one where z0 and z1 are parallel)."""
    xp = B.get_backend()
    t = B.asarray(B.host.asarray(t, dtype=B.host.float64)).reshape(1, -1, 1)
    n0 = xp.sqrt((z0 * z0).sum(axis=1, keepdims=True))
    n1 = xp.sqrt((z1 * z1).sum(axis=1, keepdims=True))
    cos = ((z0 * z1).sum(axis=1, keepdims=True) / (n0 * n1)).clip(-1, 1)
    w = xp.arccos(cos)[:, :, None]                                   # (n, 1, 1)
    s = xp.sin(w)
    safe = xp.where(s > 1e-6, s, 1)
    a = xp.where(s > 1e-6, xp.sin((1 - t) * w) / safe, 1 - t)
    b = xp.where(s > 1e-6, xp.sin(t * w) / safe, t)
    return a * z0[:, None, :] + b * z1[:, None, :]


PATHS = {"linear": lerp, "spherical": slerp}


def walk(trainer, pairs: int = 6, steps: int = 10, path: str = "spherical"):
    """G along ``pairs`` paths between random z pairs from the trainer's prior: an array of shape
    (pairs, steps) + a sample's shape, and the noise (pairs, steps, latent). A conditional
    generator keeps one class along each path (class i mod K for path i)."""
    if path not in PATHS:
        raise ValueError(f"unknown path {path!r}; expected one of {tuple(PATHS)}")
    if pairs < 1 or steps < 2:
        raise ValueError(f"a walk needs at least 1 pair and 2 steps, got {pairs} and {steps}")
    z0, z1 = trainer.sample_noise(pairs), trainer.sample_noise(pairs)
    z = PATHS[path](z0, z1, B.host.linspace(0.0, 1.0, steps)).astype(z0.dtype)
    k = getattr(trainer, "num_classes", 0)  # conditional: walk i keeps class i mod K all the way
    labels = B.host.repeat(B.host.arange(pairs) % k, steps) if k else None
    x = trainer.sample(pairs * steps, z=z.reshape(pairs * steps, -1), labels=labels)
    return x.reshape((pairs, steps) + tuple(x.shape[1:])), z
