r"""Convolutions: Conv2D and its adjoint ConvTranspose2D (fractionally-strided convolution).

Both use PyTorch's weight layouts and its stride / padding / `output_padding` semantics, and
both are one matrix product plus `im2col` / `col2im` (see `npgan.nn.im2col`). The two layers
are each other's transpose: ConvTranspose2D's forward pass is Conv2D's backward pass with
respect to its input, and its backward pass with respect to its input is Conv2D's forward
pass, which is what the code below shows. `Conv2D`'s docstring derives the first-order and
the second-order passes; `ConvTranspose2D`'s derives its own from them.
"""

from __future__ import annotations

from .. import kernels as K
from .im2col import col2im, conv_output_size, im2col, integer, pad_nhwc, pair
from .init import init_weight_bias
from .module import Layer, Parameter


class _ConvBase(Layer):
    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, bias, init,
                 w_shape, fan_in, fan_out):
        super().__init__()
        self.in_channels = integer(in_channels, f"{type(self).__name__}: in_channels")
        self.out_channels = integer(out_channels, f"{type(self).__name__}: out_channels")
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.stride = pair(stride, "stride")
        self.padding = pair(padding, "padding")
        if min(self.in_channels, self.out_channels, *self.kernel_size, *self.stride) < 1:
            raise ValueError(f"{type(self).__name__}: channels, kernel_size and stride must be positive")
        if min(self.padding) < 0:
            raise ValueError(f"{type(self).__name__}: padding must be >= 0, got {self.padding}")
        kh, kw = self.kernel_size
        w, b = init_weight_bias(init, w_shape, (self.out_channels,),
                                fan_in=fan_in * kh * kw, fan_out=fan_out * kh * kw)
        self.weight = Parameter(w, "weight")
        self.bias = Parameter(b, "bias") if bias else None

    def _input_spec(self) -> dict:
        return {"ndim": 4, "channels": self.in_channels}

    def _wmat(self):
        """The weight as a matrix with columns in (kh, kw, C) order, matching `im2col`."""
        w = self.weight.data
        return w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1)

    def _accumulate_weight_grad(self, gmat):
        """Add a (dim0, kh*kw*C) weight gradient, in im2col order, to weight.grad."""
        d0, d1, kh, kw = self.weight.data.shape
        self.weight.grad += gmat.reshape(d0, kh, kw, d1).transpose(0, 3, 1, 2)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.in_channels}->{self.out_channels}, "
                f"k={self.kernel_size}, s={self.stride}, p={self.padding}{self._extra_repr()})")

    def _extra_repr(self) -> str:
        return ""


class Conv2D(_ConvBase):
    r"""2-D convolution (cross-correlation, as in PyTorch) on NCHW tensors.

    **Shapes.** x `(N, C, H, W)`; weight `(O, C, kh, kw)`; bias `(O,)`; y `(N, O, Ho, Wo)`,
    with `Ho = floor((H + 2*ph - kh) / sh) + 1` and likewise `Wo` (`conv_output_size`
    derives it). Below, $c$ is an input and $o$ an output channel, $(h, w)$ an output
    position, $(u, v)$ a kernel offset, $K$ the kernel size, $s$ the stride and $p$ the
    padding; the code takes a separate one along each axis (`kh, kw`, `sh, sw`, `ph, pw`),
    and each axis works the same way. $x$ is read as $0$ outside the image (the zero padding).

    **Forward.** Each output is the window at $(hs - p, ws - p)$ weighted by output channel
    $o$'s filter:

    $$
    y_{n,o,h,w} = b_o + \sum_{c} \sum_{u=0}^{K-1} \sum_{v=0}^{K-1}
        W_{o,c,u,v}\; x_{n,c,\, hs+u-p,\, ws+v-p} .
    $$

    **As one matrix product.** Let $X = \operatorname{im2col}(x)$, `(N*Ho*Wo, K*K*C)`: row
    $(n,h,w)$, column $(u,v,c)$ holds $X_{(n,h,w),(u,v,c)} = x_{n,c,hs+u-p,ws+v-p}$. Let
    $W_\text{mat}$, `(O, K*K*C)`, be the weight with its columns in the same order,
    $(W_\text{mat})_{o,(u,v,c)} = W_{o,c,u,v}$. The triple sum is then one sum over the
    shared column index:

    $$
    Y = X\, W_\text{mat}^\top + \mathbf 1\, b^\top, \qquad
    Y_{(n,h,w),o} = \sum_{(u,v,c)} X_{(n,h,w),(u,v,c)}\, (W_\text{mat})_{o,(u,v,c)} + b_o
                  = y_{n,o,h,w},
    $$

    and `(N*Ho*Wo, O)` is reshaped to y (a view: y is channels-last in memory).

    **Backward.** $Y = X W_\text{mat}^\top + b$ is a `Dense` layer with input $X$ and weight
    $W_\text{mat}^\top$, so `Dense`'s derivation gives, with $\bar Y$ the rows of $\bar y$
    (`(N*Ho*Wo, O)`):

    $$
    \bar W_\text{mat} = \bar Y^\top X, \qquad
    \bar b_o = \sum_{n,h,w} \bar y_{n,o,h,w}, \qquad
    \bar X = \bar Y\, W_\text{mat},
    $$

    of shapes `(O, K*K*C)`, `(O,)` and `(N*Ho*Wo, K*K*C)`.

    Written out, $\bar W_{o,c,u,v} = \sum_{n,h,w} \bar y_{n,o,h,w}\, x_{n,c,hs+u-p,ws+v-p}$;
    it is permuted back to `weight.grad`'s `(O, C, kh, kw)`. $X = A x$ is a linear copy of
    $x$ (`im2col`), so $\bar x = A^\top \bar X = \operatorname{col2im}(\bar X)$, where
    `col2im`'s docstring shows that $A^\top$ sums every copy back to its source:

    $$
    \bar x_{n,c,h',w'} = \sum_{(h,u) \in S(h')} \; \sum_{(w,v) \in S(w')} \; \sum_o
        \bar y_{n,o,h,w}\, W_{o,c,u,v},
    $$

    with $S(h')$ the (output row, kernel row) pairs whose window reads input row $h'$,
    $hs + u - p = h'$, as defined in `col2im`: overlapping windows add up. `col2im` skips the
    padding as it adds. Cache: $X$ (needed for $\bar W$) and x's shape.

    **Double backward.** Write the forward map without its bias as $\mathcal B(x, W)$, bilinear
    in $(x, W)$, and $\mathcal B_W = \mathcal B(\cdot, W)$ the linear map of $x$ for a fixed $W$.
    The backward pass computed $\bar x = \mathcal B_W^\top \bar y$, which does not involve
    $x$. A penalty $P$ of $\bar x$ changes, to first order, by
    $\langle \tilde{\bar x}, \mathrm d\bar x \rangle$. A change of $\bar y$ alone gives
    $\mathrm d\bar x = \mathcal B_W^\top \mathrm d\bar y$; a change of $W$ alone gives
    $\mathrm d\bar x = \mathcal B_{\mathrm dW}^\top \bar y$ (bilinearity). Moving each adjoint
    to the other side of the inner product:

    $$
    \begin{aligned}
    \mathrm dP &= \langle \tilde{\bar x}, \mathcal B_W^\top \mathrm d\bar y \rangle
                = \langle \mathcal B(\tilde{\bar x}, W), \mathrm d\bar y \rangle
      &&\Longrightarrow\quad \tilde{\bar y} = \mathcal B(\tilde{\bar x}, W), \\
    \mathrm dP &= \langle \tilde{\bar x}, \mathcal B_{\mathrm dW}^\top \bar y \rangle
                = \langle \mathcal B(\tilde{\bar x}, \mathrm dW), \bar y \rangle
      &&\Longrightarrow\quad \tilde W = \bar W \text{ with } \tilde{\bar x} \text{ in } x\text{'s place}, \\
    \tilde x &= 0 .
    \end{aligned}
    $$

    The second line holds because, in the first-order pass,
    $\mathrm dL = \langle \mathcal B(x, \mathrm dW), \bar y \rangle = \langle \bar W, \mathrm dW \rangle$
    is what defines $\bar W$ from $x$ and $\bar y$; the same expression with $\tilde{\bar x}$
    in $x$'s place defines $\tilde W$. So the second-order pass reuses the first-order code with $\tilde{\bar x}$ where $x$ was:
    $\tilde{\bar y}$ is the rows of $\operatorname{im2col}(\tilde{\bar x})\, W_\text{mat}^\top$,
    and $\tilde W_\text{mat} = \bar Y^\top \operatorname{im2col}(\tilde{\bar x})$, added into
    `weight.grad`. `double_backward` returns `None` for the zero $\tilde x$.

    **Init.** PyTorch's by default (`init="dcgan"` for $\mathcal N(0, 0.02^2)$); `bias=False`
    drops $b$ (the usual choice before a BatchNorm).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 bias: bool = True, init: str = "pytorch"):
        kh, kw = pair(kernel_size, "kernel_size")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias, init,
                         w_shape=(int(out_channels), int(in_channels), kh, kw),
                         fan_in=int(in_channels), fan_out=int(out_channels))

    @classmethod
    def example(cls):
        return cls(2, 3, 3, stride=2, padding=1), (2, 2, 5, 5)

    def output_shape(self, input_shape):
        n, _, h, w = input_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return (n, self.out_channels, conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw))

    def _forward(self, x, training):
        n, c, h, w = x.shape
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        _, o, ho, wo = self.output_shape(x.shape)
        if ho < 1 or wo < 1:
            raise ValueError(f"{self!r}: input {h}x{w} (padded {h + 2 * ph}x{w + 2 * pw}) "
                             f"is smaller than the kernel {kh}x{kw}")
        y, cache = self._linear(x)
        if self.bias is not None:
            y += self.bias.data
        # (N*Ho*Wo, O) is channels-last memory; the NCHW result is a view of it
        return y.reshape(n, ho, wo, o).transpose(0, 3, 1, 2), cache

    def _linear(self, x):
        """(Y, cache): Y = im2col(x_pad) @ Wm.T, `(N*Ho*Wo, O)`, without the bias."""
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        _, _, ho, wo = self.output_shape(x.shape)
        cols = im2col(pad_nhwc(x, ph, pw), kh, kw, sh, sw, ho, wo)
        return cols @ self._wmat().T, (cols, x.shape)

    def _double_backward(self, ggx, grad_out, cache):
        y, (cols, _) = self._linear(ggx)
        n, o, ho, wo = grad_out.shape
        if self.requires_grad:
            self._accumulate_weight_grad(grad_out.transpose(0, 2, 3, 1).reshape(-1, o).T @ cols)
        return y.reshape(n, ho, wo, o).transpose(0, 3, 1, 2), None

    def _backward(self, grad_out, cache):
        cols, (n, c, h, w) = cache
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        _, o, ho, wo = grad_out.shape
        g = grad_out.transpose(0, 2, 3, 1).reshape(-1, o)  # a view when grad_out is channels-last
        if self.requires_grad:
            self._accumulate_weight_grad(g.T @ cols)
            if self.bias is not None:
                self.bias.grad += K.channel_sum(grad_out)  # Σ over n, h, w
        if not self.input_grad:
            return None
        dcols = K.matmul_by_offset(g, self._wmat(), kh * kw)  # g @ Wm, one (N*Ho*Wo, C) block per offset
        dx = col2im(dcols, n, h + 2 * ph, w + 2 * pw, c, kh, kw, sh, sw, ho, wo, crop=(ph, pw, h, w))
        return dx.transpose(0, 3, 1, 2)


class ConvTranspose2D(_ConvBase):
    r"""Transposed ("fractionally-strided") 2-D convolution, the upsampling layer of DCGAN.

    **Shapes.** x `(N, C, H, W)` with $C$ = `in_channels`; weight `(C, O, kh, kw)`,
    PyTorch's layout, input channels first; bias `(O,)`; y `(N, O, Ho, Wo)` with $O$ =
    `out_channels` and `Ho = (H - 1)*sh - 2*ph + kh + oph` (likewise `Wo`), where the
    output padding `oph` is at least 0 and less than the stride. $c$, $o$, $(u, v)$, $K$,
    $s$, $p$ as in `Conv2D`; $(h, w)$ is now an *input* position and $(h', w')$ an output one.

    **Forward: the adjoint of a convolution's input map.** Take the `Conv2D` that maps
    images shaped like y to images shaped like x, with $O$ input and $C$ output channels,
    this layer's weight $W$ (its layout `(C, O, K, K)` is exactly that Conv2D's
    (out, in, K, K)), and no bias. Its input map is the linear map of $z$

    $$
    \operatorname{conv}_W(z)_{n,c,h,w} = \sum_{o,u,v} W_{c,o,u,v}\; z_{n,o,\, hs+u-p,\, ws+v-p} .
    $$

    This layer is its adjoint, plus a bias: $y = \operatorname{conv}_W^\top x + b$. To write
    $\operatorname{conv}_W^\top$ out, take the inner product with any $x$ and, as in `col2im`'s proof,
    group its terms by the entry $(n, o, h', w')$ of $z$ that each one reads, with
    $S(h') = \{ (h, u) : 0 \le h < H,\ 0 \le u < K,\ hs + u - p = h' \}$ the (input row,
    kernel row) pairs that reach output row $h'$:

    $$
    \begin{aligned}
    \langle \operatorname{conv}_W(z), x \rangle
      &= \sum_{n,c,h,w} x_{n,c,h,w} \sum_{o,u,v} W_{c,o,u,v}\, z_{n,o,hs+u-p,ws+v-p} \\
      &= \sum_{n,o,h',w'} z_{n,o,h',w'} \sum_c \sum_{(h,u) \in S(h')} \; \sum_{(w,v) \in S(w')}
         x_{n,c,h,w}\, W_{c,o,u,v}
       = \langle z, \operatorname{conv}_W^\top x \rangle,
    \end{aligned}
    $$

    so

    $$
    y_{n,o,h',w'} = b_o + \sum_c \sum_{(h,u) \in S(h')} \; \sum_{(w,v) \in S(w')}
        x_{n,c,h,w}\, W_{c,o,u,v} :
    $$

    each input pixel $(h, w)$ *scatters* its $K \times K$ patch, scaled by its value, onto the
    output at $(hs + u - p,\, ws + v - p)$; patches at stride $s$ overlap and add up.

    **As one matrix product.** $X_m$ is x as `(N*H*W, C)` rows $(n, h, w)$;
    $W_\text{mat}$ is the weight as `(C, K*K*O)`, $(W_\text{mat})_{c,(u,v,o)} = W_{c,o,u,v}$.
    Then $\operatorname{cols} = X_m W_\text{mat}$ holds every scattered value,
    $\operatorname{cols}_{(n,h,w),(u,v,o)} = \sum_c x_{n,c,h,w} W_{c,o,u,v}$, and the sum above
    is exactly `col2im`'s:

    $$
    y = \operatorname{col2im}(X_m W_\text{mat}) + b,
    $$

    cropped by $p$ as it is summed. It is the computation of `Conv2D`'s backward to its input,
    $\operatorname{col2im}(\bar Y W_\text{mat})$, with $X_m$ in $\bar Y$'s place.

    **Output size.** The Conv2D above maps a length $H_\text{out}$ to
    $H = \lfloor (H_\text{out} + 2p - K)/s \rfloor + 1$. Solving for $H_\text{out}$,
    $H_\text{out} = (H - 1)s - 2p + K + q$ with any $q \in \{0, \dots, s - 1\}$, which the
    floor drops. `output_padding` is that $q$: it picks the output size, adding $q$ rows at
    the bottom (and columns at the right) that the same formula fills.

    **Backward.** $y$ is linear in $x$ with the map $\operatorname{conv}_W^\top$, so
    $\bar x = (\operatorname{conv}_W^\top)^\top \bar y = \operatorname{conv}_W(\bar y)$: Conv2D's forward pass,
    without bias, applied to $\bar y$. In matrices: the adjoint of `col2im` (with its crop) is
    `im2col` (with zero-padding), so $\overline{\operatorname{cols}} = \operatorname{im2col}(\bar y)$,
    `(N*H*W, K*K*O)`, the windows every input pixel wrote to; and
    $\operatorname{cols} = X_m W_\text{mat}$ is a `Dense` layer, so

    $$
    \begin{aligned}
    \bar X_m &= \overline{\operatorname{cols}}\; W_\text{mat}^\top,
    & \bar x_{n,c,h,w} &= \sum_{o,u,v} W_{c,o,u,v}\, \bar y_{n,o,hs+u-p,ws+v-p}, \\
    \bar W_\text{mat} &= X_m^\top\, \overline{\operatorname{cols}},
    & \bar W_{c,o,u,v} &= \sum_{n,h,w} x_{n,c,h,w}\, \bar y_{n,o,hs+u-p,ws+v-p}, \\
    & & \bar b_o &= \sum_{n,h',w'} \bar y_{n,o,h',w'},
    \end{aligned}
    $$

    with $\bar X_m$ `(N*H*W, C)`, reshaped to $\bar x$, and $\bar W_\text{mat}$ `(C, K*K*O)`,
    permuted back to `weight.grad`'s `(C, O, kh, kw)`. So the backward
    pass is an ordinary strided convolution of $\bar y$. Cache: $X_m$.

    **Double backward.** The forward map without bias, $\mathcal B(x, W) = \operatorname{conv}_W^\top x$,
    is bilinear in $(x, W)$, so `Conv2D`'s argument applies unchanged. With $\tilde{\bar X}_m$
    the rows of $\tilde{\bar x}$ (like $X_m$'s):

    $$
    \tilde{\bar y} = \mathcal B(\tilde{\bar x}, W) = \operatorname{col2im}(\tilde{\bar X}_m W_\text{mat}), \qquad
    \tilde W_\text{mat} = \tilde{\bar X}_m^\top \operatorname{im2col}(\bar y), \qquad
    \tilde x = 0:
    $$

    the forward map applied to $\tilde{\bar x}$ without the bias, and the weight gradient with
    $\tilde{\bar x}$ in $x$'s place, added into `weight.grad`; `double_backward` returns `None`
    for the zero $\tilde x$.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, bias: bool = True, init: str = "pytorch"):
        kh, kw = pair(kernel_size, "kernel_size")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias, init,
                         w_shape=(int(in_channels), int(out_channels), kh, kw),
                         fan_in=int(out_channels), fan_out=int(in_channels))
        self.output_padding = pair(output_padding, "output_padding")
        op, s = self.output_padding, self.stride
        if min(op) < 0 or op[0] >= s[0] or op[1] >= s[1]:
            raise ValueError(f"ConvTranspose2D: output_padding {op} must be >= 0 and smaller "
                             f"than stride {s}")

    @classmethod
    def example(cls):
        return cls(2, 3, 3, stride=2, padding=1, output_padding=1), (2, 2, 3, 3)

    def _extra_repr(self) -> str:
        return f", op={self.output_padding}" if any(self.output_padding) else ""

    def output_shape(self, input_shape):
        n, _, h, w = input_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        oph, opw = self.output_padding
        return (n, self.out_channels, (h - 1) * sh - 2 * ph + kh + oph, (w - 1) * sw - 2 * pw + kw + opw)

    def _forward(self, x, training):
        n, ci, h, w = x.shape
        _, co, ho, wo = self.output_shape(x.shape)
        if ho < 1 or wo < 1:
            raise ValueError(f"{self!r}: input {h}x{w} gives an empty output ({ho}x{wo})")
        y, cache = self._linear(x)
        if self.bias is not None:
            y += self.bias.data
        return y.transpose(0, 3, 1, 2), cache

    def _linear(self, x):
        """(y, cache): y = crop(col2im(Xm @ Wm)), `(N, Ho, Wo, Co)` channels-last, without the bias."""
        n, ci, h, w = x.shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        _, co, ho, wo = self.output_shape(x.shape)
        xm = x.transpose(0, 2, 3, 1).reshape(n * h * w, ci)
        cols = K.matmul_by_offset(xm, self._wmat(), kh * kw)  # xm @ Wm, one (N*H*W, Co) block per offset
        y = col2im(cols, n, ho + 2 * ph, wo + 2 * pw, co, kh, kw, sh, sw, h, w, crop=(ph, pw, ho, wo))
        return y, (xm, x.shape)

    def _grad_cols(self, grad_out, h, w):
        r"""`im2col` of $\bar y$ padded back by $p$: the windows every input pixel wrote to."""
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return im2col(pad_nhwc(grad_out, ph, pw), kh, kw, sh, sw, h, w)

    def _double_backward(self, ggx, grad_out, cache):
        _, shape = cache
        y, (gm, _) = self._linear(ggx)
        if self.requires_grad:
            self._accumulate_weight_grad(gm.T @ self._grad_cols(grad_out, shape[2], shape[3]))
        return y.transpose(0, 3, 1, 2), None

    def _backward(self, grad_out, cache):
        xm, (n, ci, h, w) = cache
        if self.bias is not None and self.requires_grad:
            self.bias.grad += K.channel_sum(grad_out)  # Σ over n, h, w
        gc = self._grad_cols(grad_out, h, w)
        if self.requires_grad:
            self._accumulate_weight_grad(xm.T @ gc)
        if not self.input_grad:
            return None
        dx = gc @ self._wmat().T
        return dx.reshape(n, h, w, ci).transpose(0, 3, 1, 2)
