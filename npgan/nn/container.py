"""Sequential: a stack of layers run forward in order and backward in reverse."""

from __future__ import annotations

from .module import Layer


class Sequential(Layer):
    r"""Compose layers: y = f_L(... f_2(f_1(x))).

    Backward is the chain rule read right to left: starting from G = dL/dy,
    G <- f_k.backward(G) for k = L, ..., 1; each layer adds its own parameter
    gradients on the way. Parameters are named ``"<index>.<name>"`` (``"0.weight"``),
    as in PyTorch's ``nn.Sequential``.
    """

    def __init__(self, *layers):
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: item {i} is {type(layer).__name__}, not a Layer")
            self.add_layer(str(i), layer)

    @property
    def layers(self) -> list:
        """The layers, in the order they run forward."""
        return self.children()

    def forward(self, x, training=None):
        for layer in self.children():
            x = layer.forward(x, training=training)
        return x

    def backward(self, grad_out):
        for layer in reversed(self.children()):
            grad_out = layer.backward(grad_out)
            if grad_out is None:  # ``data_input``: the layers before this one need no gradient
                return None
        return grad_out

    def _input_side(self) -> list:
        """Each layer's input side up to and including the first layer with parameters: their
        input gradients only feed the network's (``data_input``)."""
        out = []
        for layer in self.children():
            out.extend(layer._input_side())
            if layer.parameters():
                break
        return out

    def __getitem__(self, i):
        return self.children()[i]

    def __len__(self) -> int:
        return len(self.children())

    def __repr__(self) -> str:
        inner = "\n".join(f"  ({i}) {layer!r}" for i, layer in enumerate(self.children()))
        return f"Sequential(\n{inner}\n)"
