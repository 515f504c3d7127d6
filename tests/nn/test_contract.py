"""The layer contract, checked on every layer class npgan.nn defines: no list written by hand.

Each concrete ``Layer`` subclass in ``npgan.nn`` (it writes ``_forward``, or overrides
``forward`` as containers do) is found by walking the class tree, built from its own
``example()``, and put through ``check_layer_contract``: gradients against central
differences in float64, gradients *added* into ``.grad``, the second-order pass against
central differences where the layer has one (and a refusal naming it where it does not),
the ``frozen`` and ``data_input`` flags, the cache policy and a state round trip. A new
layer is covered the moment it is defined; ``tests/nn/test_new_layer.py`` adds one the
way ``docs/guides/extending.md`` says and runs the same checks on it.
"""

import numpy as np
import pytest

from helpers import assert_double_grads_ok, assert_grads_ok
from npgan import backend as B
from npgan import nn


def layer_classes(root=nn.Layer, package="npgan."):
    """Every concrete subclass of ``root`` defined in ``package``, walked from the class tree."""
    found, stack = [], [root]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        concrete = "_forward" in vars(cls) or ("forward" in vars(cls) and cls is not nn.Layer)
        if cls.__module__.startswith(package) and concrete and not cls.__name__.startswith("_"):
            found.append(cls)
    return sorted(set(found), key=lambda c: c.__name__)


def _example(cls):
    """The class's example, its parameters moved off their initial values (BatchNorm's
    gamma = 1, beta = 0 would make a special case of the check), and a drawn input."""
    B.seed(0)
    layer, shape = cls.example()
    for p in layer.parameters():
        p.data = p.data + 0.5 * B.normal(p.shape)
    return layer, B.normal(shape) * 2 + 1


def check_layer_contract(cls):
    """The generic checks for one layer class (float64, seeded): raises AssertionError on a breach."""
    layer, x = _example(cls)
    assert_grads_ok(layer, x, training=layer.training)  # input and every parameter, against central differences

    # backward adds into .grad: two passes on the same input give twice one pass's gradient
    layer, x = _example(cls)
    y = layer.forward(x)
    g = B.normal(y.shape)
    layer.zero_grad()
    B.seed(1)
    layer.forward(x)
    layer.backward(g)
    once = [B.to_numpy(p.grad).copy() for p in layer.parameters()]
    B.seed(1)
    layer.forward(x)
    layer.backward(g)
    for p, g1 in zip(layer.parameters(), once):
        np.testing.assert_allclose(B.to_numpy(p.grad), 2 * g1, rtol=1e-10, atol=1e-12,
                                   err_msg=f"{cls.__name__}.{p.name}: backward must add into .grad")

    # the cache serves one backward pass
    layer.forward(x)
    layer.backward(g)
    with pytest.raises(RuntimeError, match="second time"):
        layer.backward(g)

    # frozen: the input gradient only, .grad untouched; data_input: no input gradient
    layer.zero_grad()
    with nn.frozen(layer):
        layer.forward(x)
        dx = layer.backward(g)
    assert dx is not None and dx.shape == x.shape
    assert all(not B.to_numpy(p.grad).any() for p in layer.parameters()), "frozen left .grad changed"
    with nn.data_input(layer):
        layer.forward(x)
        assert layer.backward(g) is None

    # the second-order pass, or a refusal naming the layer
    layer, x = _example(cls)
    reason = layer.second_order_refusal()
    if reason is None:
        assert_double_grads_ok(layer, x, training=layer.training)
    else:
        assert type(layer).__name__ in reason
        layer.forward(x)
        with pytest.raises(NotImplementedError, match=type(layer).__name__):
            layer.double_backward(x, layer.forward(x))

    # state: a round trip through state_dict restores the outputs
    layer, x = _example(cls)
    state = layer.state_dict()
    for p in layer.parameters():
        p.data += 1
    layer.load_state_dict(state)
    again, _ = _example(cls)
    np.testing.assert_allclose(B.to_numpy(layer.forward(x, training=False)),
                               B.to_numpy(again.forward(x, training=False)), rtol=1e-12)


def test_the_walk_finds_every_exported_layer():
    exported = {getattr(nn, n) for n in nn.__all__ if isinstance(getattr(nn, n), type)
                and issubclass(getattr(nn, n), nn.Layer)}
    assert exported - {nn.Layer, nn.Activation} == set(layer_classes())


@pytest.mark.parametrize("cls", layer_classes(), ids=lambda c: c.__name__)
def test_every_layer_keeps_the_contract(f64, cls):
    check_layer_contract(cls)


