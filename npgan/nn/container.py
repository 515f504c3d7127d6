"""Sequential: a stack of layers run forward in order and backward in reverse."""

from __future__ import annotations

from .activations import Tanh
from .dense import Dense
from .module import Layer
from .second_order import second_pass


class Sequential(Layer):
    r"""Compose layers: $y = f_T(\cdots f_2(f_1(x)))$, run forward in order and backward in reverse.

    **Forward.** With $T$ layers and $\theta_t$ layer $t$'s parameters:
    $x^{(0)} = x$, $x^{(t)} = f_t(x^{(t-1)}; \theta_t)$ for $t = 1, \dots, T$, and $y = x^{(T)}$.

    **Backward.** $L$ depends on $x^{(t-1)}$ only through $x^{(t)}$, so the chain rule, with
    $J_t = \partial x^{(t)} / \partial x^{(t-1)}$ layer $t$'s Jacobian, is one step per layer,
    read right to left:

    $$
    \bar x^{(T)} = \bar y, \qquad
    \bar x^{(t-1)}_k = \sum_{k'} \bar x^{(t)}_{k'} \frac{\partial x^{(t)}_{k'}}{\partial x^{(t-1)}_k}
                     = \big(J_t^\top \bar x^{(t)}\big)_k
    \quad (t = T, \dots, 1), \qquad \bar x = \bar x^{(0)} .
    $$

    Each step is `f_t.backward`, which also adds its
    $\bar\theta_t = (\partial x^{(t)} / \partial \theta_t)^\top \bar x^{(t)}$ into the
    parameters' `.grad` on the way. Parameters are named `"<index>.<name>"` (`"0.weight"`),
    as in PyTorch's `nn.Sequential`.
    """

    def __init__(self, *layers):
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: item {i} is {type(layer).__name__}, not a Layer")
            self.add_layer(str(i), layer)

    @classmethod
    def example(cls):
        return cls(Dense(3, 4), Tanh(), Dense(4, 2)), (5, 3)

    @property
    def layers(self) -> list:
        """The layers, in the order they run forward."""
        return self.children()

    def forward(self, x, training=None):
        for layer in self.children():
            x = layer.forward(x, training=training)
        return x

    def backward(self, grad_out):
        recorded = [] if self._grad_outs is not None else None
        for layer in reversed(self.children()):
            if recorded is not None:
                recorded.append(grad_out)
            grad_out = layer.backward(grad_out)
            if grad_out is None:  # ``data_input``: the layers before this one need no gradient
                return None
        if recorded is not None:
            self._grad_outs = recorded[::-1]  # the grad_out each layer received, in forward order
        return grad_out

    records_backward = True
    _grad_outs = None  # while recording: the list the next backward pass fills

    def start_recording(self) -> None:
        self._grad_outs = []

    def stop_recording(self) -> None:
        self._grad_outs = None

    def double_backward(self, ggx, grad_out):
        r"""The second-order pass through the stack: $\tilde{\bar y}$ and $\tilde x$ from $\tilde{\bar x}$.

        `record_backward` must have kept the first backward pass's $\bar x^{(t)}$, the
        $\bar y$ each layer $t$ received. Notation as in the class docstring.

        **What is differentiated.** The backward pass is itself a chain, run for
        $t = T, \dots, 1$: $\bar x^{(t-1)} = \psi_t(\bar x^{(t)}; x^{(t-1)}, \theta_t)$, where $\psi_t$ is
        layer $t$'s backward map. The penalty $P$ depends on its end, $\bar x = \bar x^{(0)}$.
        Its inputs are $\bar y$, the $\theta_t$ and, through the forward pass, $x$.

        **Step 1, back through the backward chain.** Reverse mode over a chain that ran
        $t = T, \dots, 1$ runs $t = 1, \dots, T$, starting from $\tilde{\bar x}^{(0)} = \tilde{\bar x}$.
        Layer $t$'s `double_backward` takes $\tilde{\bar x}^{(t-1)}$ and $\bar x^{(t)}$ and
        returns

        $$
        \tilde{\bar x}^{(t)} = \Big( \frac{\partial \psi_t}{\partial \bar x^{(t)}} \Big)^{\!\top} \tilde{\bar x}^{(t-1)},
        \qquad
        \delta^{(t-1)} = \Big( \frac{\partial \psi_t}{\partial x^{(t-1)}} \Big)^{\!\top} \tilde{\bar x}^{(t-1)},
        $$

        and adds $(\partial \psi_t / \partial \theta_t)^\top \tilde{\bar x}^{(t-1)}$ to its
        parameters' `.grad`. $\delta^{(t-1)}$ is the part of $\tilde x^{(t-1)}$ from $\psi_t$
        reading $x^{(t-1)}$ directly (`None`, i.e. zero, for every layer linear in its input).
        After layer $T$, $\tilde{\bar y} = \tilde{\bar x}^{(T)}$.

        **Step 2, back through the forward pass.** $x^{(t-1)}$ also reaches $P$ through
        $x^{(t)} = f_t(x^{(t-1)})$, which $\psi_{t+1}$ reads and the later layers carry on. So
        its total adjoint is its direct part plus the chain rule through $f_t$: an ordinary
        backward pass with $\delta$ added at each layer,

        $$
        \tilde x^{(T)} = 0, \qquad
        \tilde x^{(t-1)} = J_t^\top \tilde x^{(t)} + \delta^{(t-1)} \quad (t = T, \dots, 1), \qquad
        \tilde x = \tilde x^{(0)} .
        $$

        ($\tilde x^{(T)} = 0$: no $\psi_t$ reads $y$; $P$'s dependence on $y$ through $\bar y$ is
        the caller's, through the returned $\tilde{\bar y}$.) Each $J_t^\top$ is `f_t.backward`
        run again on its forward cache, which also adds
        $(\partial x^{(t)} / \partial \theta_t)^\top \tilde x^{(t)}$ to `.grad`: each layer adds its
        backward pass's $\tilde\theta_t$ in step 1 and its forward pass's in step 2.

        Returns $(\tilde{\bar y}, \tilde x)$, with `None` for an all-zero term.
        """
        layers, outs = self.children(), self._grad_outs
        if not outs or len(outs) != len(layers):
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
        input gradients only feed the network's (`data_input`)."""
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
