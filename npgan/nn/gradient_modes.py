"""Which gradients a backward pass computes: ``frozen`` (no parameter gradients) and
``data_input`` (no input gradient)."""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def frozen(layer):
    """Within the block, ``layer.backward`` computes input gradients only (its ``.grad`` is left
    as is): the generator's update needs the gradient *through* the discriminator, not the
    discriminator's own weight gradients."""
    before = layer.requires_grad
    layer.requires_grad_(False)
    try:
        yield layer
    finally:
        layer.requires_grad_(before)


@contextlib.contextmanager
def data_input(layer):
    """Within the block, ``layer.backward`` skips dL/dx (its input is data, so nobody
    needs it) and returns ``None``.

    In a Sequential, every layer up to and including the first one with parameters skips
    it: a Flatten in front of a Dense (an MLP discriminator on images) would only reshape
    the Dense layer's input gradient into the network's, so the Dense layer need not
    compute it. The layers after it still pass their gradients down."""
    skipping = layer._input_side()
    before = [s.input_grad for s in skipping]
    for s in skipping:
        s.input_grad = False
    try:
        yield layer
    finally:
        for s, b in zip(skipping, before):
            s.input_grad = b
