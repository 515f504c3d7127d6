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
        self.layers = list(layers)

    def forward(self, x, training: bool = True):
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def backward(self, grad_out):
        for layer in reversed(self.layers):
            grad_out = layer.backward(grad_out)
        return grad_out  # None when the first layer skipped it (``data_input``)

    def requires_grad_(self, flag: bool = True) -> "Sequential":
        self.requires_grad = bool(flag)
        for layer in self.layers:
            layer.requires_grad_(flag)
        return self

    def named_parameters(self, prefix: str = ""):
        out = []
        for i, layer in enumerate(self.layers):
            out.extend(layer.named_parameters(f"{prefix}{i}."))
        return out

    def named_buffers(self, prefix: str = ""):
        out = []
        for i, layer in enumerate(self.layers):
            out.extend(layer.named_buffers(f"{prefix}{i}."))
        return out

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def __repr__(self) -> str:
        inner = "\n".join(f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential(\n{inner}\n)"
