"""Every layer's second-order pass against central differences (``double_gradcheck``).

S = sum(ggx * dL/dx) for random G = dL/dy and ggx: ``double_backward(ggx, G)`` must give
dS/dG, dS/dx and (into ``.grad``) dS/dθ. Shapes, strides, paddings and batch sizes are
drawn by hypothesis; float64 on every backend.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import assert_double_grads_ok
from npgan import backend as B
from npgan import nn

FEW = settings(max_examples=25)


@FEW
@given(n=st.integers(1, 5), d_in=st.integers(1, 6), d_out=st.integers(1, 6))
def test_dense(f64, n, d_in, d_out):
    assert_double_grads_ok(nn.Dense(d_in, d_out), B.normal((n, d_in)))


@FEW
@given(n=st.integers(1, 3), c=st.integers(1, 3), o=st.integers(1, 3), k=st.integers(1, 4),
       s=st.integers(1, 3), p=st.integers(0, 2), h=st.integers(4, 7), bias=st.booleans())
def test_conv2d(f64, n, c, o, k, s, p, h, bias):
    assert_double_grads_ok(nn.Conv2D(c, o, k, stride=s, padding=p, bias=bias), B.normal((n, c, h, h + 1)))


@FEW
@given(n=st.integers(1, 3), c=st.integers(1, 3), o=st.integers(1, 3), k=st.integers(1, 4),
       s=st.integers(1, 3), p=st.integers(0, 1), op=st.integers(0, 2), h=st.integers(2, 4))
def test_conv_transpose2d(f64, n, c, o, k, s, p, op, h):
    op = min(op, s - 1)
    layer = nn.ConvTranspose2D(c, o, k, stride=s, padding=p, output_padding=op)
    if min(layer.output_shape((n, c, h, h))[2:]) < 1:
        return
    assert_double_grads_ok(layer, B.normal((n, c, h, h)))


@pytest.mark.parametrize("layer", [nn.ReLU(), nn.LeakyReLU(0.2), nn.Tanh(), nn.Sigmoid(), nn.Dropout(0.4)],
                         ids=lambda layer: type(layer).__name__)
@FEW
@given(shape=st.sampled_from([(3, 4), (2, 3, 2, 2), (5, 1)]))
def test_elementwise(f64, layer, shape):
    assert_double_grads_ok(layer, B.normal(shape))


@FEW
@given(n=st.integers(1, 4), shape=st.sampled_from([(3,), (2, 3), (3, 2, 2), (1, 4, 3)]))
def test_layernorm_and_reshapes(f64, n, shape):
    assert_double_grads_ok(nn.LayerNorm(shape), B.normal((n,) + shape))
    assert_double_grads_ok(nn.Flatten(), B.normal((n,) + shape))
    size = 1
    for s in shape:
        size *= s
    assert_double_grads_ok(nn.Reshape(shape), B.normal((n, size)))


def test_stacks_nest(f64):
    """A Sequential inside a Sequential (the MLP image critic) chains the passes the same way."""
    critic = nn.Sequential(
        nn.Conv2D(1, 2, 3, stride=2, padding=1), nn.LayerNorm((2, 3, 3)), nn.LeakyReLU(0.2),
        nn.Sequential(nn.Flatten(), nn.Dense(18, 4), nn.Tanh()), nn.Dense(4, 1), nn.Sigmoid())
    assert_double_grads_ok(critic, B.normal((3, 1, 5, 5)))


def test_refusals_name_the_layer_and_the_way_out(backend_name):
    assert nn.Dense(2, 2).second_order_refusal() is None
    net = nn.Sequential(nn.Dense(2, 3), nn.BatchNorm(3), nn.Dense(3, 1))
    assert "use LayerNorm" in net.second_order_refusal()

    class Square(nn.Layer):  # a layer with a backward pass but no second-order pass
        def forward(self, x, training=None):
            self._cache = x
            return x * x

        def backward(self, grad_out):
            return 2 * self._cache * grad_out

    assert "Square has no second-order pass" in nn.Sequential(nn.Dense(2, 2), Square()).second_order_refusal()


def test_double_backward_needs_a_recorded_backward_pass(backend_name):
    net = nn.Sequential(nn.Dense(2, 3), nn.Tanh(), nn.Dense(3, 1))
    x = B.normal((4, 2))
    y = net.forward(x)
    net.backward(B.get_backend().ones_like(y))  # not recorded
    with pytest.raises(RuntimeError, match="record_backward"):
        net.double_backward(x, B.get_backend().ones_like(y))
