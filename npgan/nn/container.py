"""Sequential: a stack of layers run forward in order and backward in reverse."""

from __future__ import annotations

from .module import Layer, second_pass


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
        recorded = [] if self._recording else None
        for layer in reversed(self.children()):
            if recorded is not None:
                recorded.append(grad_out)
            grad_out = layer.backward(grad_out)
            if grad_out is None:  # ``data_input``: the layers before this one need no gradient
                return None
        if recorded is not None:
            self._grad_outs = recorded[::-1]  # the G = dL/dy each layer received, in forward order
        return grad_out

    _recording = False
    _grad_outs = None

    def double_backward(self, ggx, grad_out):
        r"""The second-order pass through the stack (``record_backward`` must have kept the
        first backward pass's G_k, the dL/dy each layer k received).

        With a_0 = x, a_k = f_k(a_{k-1}) and the backward pass u_{k-1} = J_k(a_{k-1})^T u_k,
        a scalar P of u_0 = dx is differentiated through that backward pass (reverse mode
        over it, layers in *forward* order), then through the forward pass::

            for k = 1..L:  (ggu_k, e_{k-1}) = f_k.double_backward(ggu_{k-1}, u_k)   ggu_0 = ggx
            abar_L = 0;  for k = L..1:  abar_{k-1} = f_k.backward(abar_k) + e_{k-1}

        Each layer adds its backward pass's dP/dθ in the first loop and its forward pass's
        in the second. Returns (ggu_L = dP/dG, abar_0 = dP/dx); None for an all-zero term.
        """
        layers, outs = self.children(), self._grad_outs
        if outs is None or len(outs) != len(layers):
            raise RuntimeError(f"{self!r}: double_backward needs a backward pass recorded with "
                               f"record_backward(...)")
        gg, extras = ggx, []
        for layer, u in zip(layers, outs):
            gg, extra = layer.double_backward(gg, u)
            extras.append(extra)
        abar = None
        with second_pass():  # each layer's backward runs again on its forward pass's cache
            for layer, extra in zip(reversed(layers), reversed(extras)):
                down = layer.backward(abar) if abar is not None else None
                abar = extra if down is None else (down if extra is None else down + extra)
        return gg, abar

    def second_order_refusal(self):
        for layer in self.children():
            reason = layer.second_order_refusal()
            if reason is not None:
                return reason
        return None

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
