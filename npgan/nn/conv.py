"""Convolutions: Conv2D and its adjoint ConvTranspose2D (fractionally-strided convolution).

Both use PyTorch's weight layouts and its stride / padding / output_padding
semantics, and both are one matrix product plus im2col/col2im (see
``npgan.nn.im2col``). The two layers are each other's transpose: ConvTranspose2D's
forward pass is Conv2D's backward pass with respect to its input, and vice
versa, which is exactly what the code below shows.

Double backward (gradient penalties). Each layer's y = C(x, W) + b is bilinear in
(x, W), and its input gradient is the adjoint dx = C_x^T(G; W). For a penalty P of dx
with ggx = dP/d(dx), the adjoint identity <ggx, C_x^T(G; W)> = <C(ggx, W), G> gives::

    dP/dG = C(ggx, W)              the forward map applied to ggx, without the bias
    dP/dW = C_W^T(G; ggx)          the weight gradient with ggx in the input's place
    dP/dx = 0                      (dx does not depend on x)

so the second-order pass reuses the first-order code with ggx where x was.
"""

from __future__ import annotations

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

    def _wmat(self):
        """The weight as a matrix with columns in (kh, kw, C) order, matching im2col."""
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

    Shapes: x (N, C, H, W); weight (O, C, kh, kw); bias (O,); y (N, O, Ho, Wo) with
    ``Ho = floor((H + 2*ph - kh) / sh) + 1`` (likewise Wo).

    Forward, with x zero-padded by (ph, pw)::

        y[n, o, a, b] = b[o] + sum_{c, i, j} W[o, c, i, j] * x_pad[n, c, a*sh + i, b*sw + j]

    As matrices: ``X = im2col(x_pad)`` is (N*Ho*Wo, kh*kw*C), one window per row;
    ``Wm`` is the weight as (O, kh*kw*C); then ``Y = X @ Wm.T + b``, (N*Ho*Wo, O),
    reshaped to (N, O, Ho, Wo).

    Backward, given G = dL/dy reshaped to (N*Ho*Wo, O)::

        dL/dWm = G.T @ X                 (O, kh*kw*C)   -> weight.grad (O, C, kh, kw)
        dL/db  = sum over rows of G      (O,)
        dL/dX  = G @ Wm                  (N*Ho*Wo, kh*kw*C)
        dL/dx  = crop(col2im(dL/dX))     (N, C, H, W)   overlapping windows add up
                                                        (col2im skips the padding as it adds)

    Cache: X (the im2col matrix, needed for dL/dWm) and x's shape.

    Default init: PyTorch's (``init="dcgan"`` for N(0, 0.02)); ``bias=False`` drops b
    (the usual choice before a BatchNorm).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 bias: bool = True, init: str = "pytorch"):
        kh, kw = pair(kernel_size, "kernel_size")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias, init,
                         w_shape=(int(out_channels), int(in_channels), kh, kw),
                         fan_in=int(in_channels), fan_out=int(out_channels))

    def output_shape(self, input_shape):
        n, _, h, w = input_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return (n, self.out_channels, conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw))

    def forward(self, x, training=None):
        self._check_input(x, ndim=4, channels=self.in_channels)
        n, c, h, w = x.shape
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        _, o, ho, wo = self.output_shape(x.shape)
        if ho < 1 or wo < 1:
            raise ValueError(f"{self!r}: input {h}x{w} (padded {h + 2 * ph}x{w + 2 * pw}) "
                             f"is smaller than the kernel {kh}x{kw}")
        y, self._cache = self._linear(x)
        if self.bias is not None:
            y += self.bias.data
        # (N*Ho*Wo, O) is channels-last memory; the NCHW result is a view of it
        return y.reshape(n, ho, wo, o).transpose(0, 3, 1, 2)

    def _linear(self, x):
        """(Y, cache): Y = im2col(x_pad) @ Wm.T, (N*Ho*Wo, O), without the bias."""
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        _, _, ho, wo = self.output_shape(x.shape)
        cols = im2col(pad_nhwc(x, ph, pw), kh, kw, sh, sw, ho, wo)
        return cols @ self._wmat().T, (cols, x.shape)

    def double_backward(self, ggx, grad_out):
        _, shape = self._forward_cache()
        self._check_second(ggx, grad_out, shape, self.output_shape(shape))
        y, (cols, _) = self._linear(ggx)
        n, o, ho, wo = grad_out.shape
        if self.requires_grad:
            self._accumulate_weight_grad(grad_out.transpose(0, 2, 3, 1).reshape(-1, o).T @ cols)
        return y.reshape(n, ho, wo, o).transpose(0, 3, 1, 2), None

    def backward(self, grad_out):
        cols, (n, c, h, w) = self._cached()
        self._check_grad(grad_out, self.output_shape((n, c, h, w)))
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        _, o, ho, wo = grad_out.shape
        g = grad_out.transpose(0, 2, 3, 1).reshape(-1, o)  # a view when grad_out is channels-last
        if self.requires_grad:
            self._accumulate_weight_grad(g.T @ cols)
            if self.bias is not None:
                self.bias.grad += g.sum(axis=0)
        if not self.input_grad:
            return None
        dcols = g @ self._wmat()
        dx = col2im(dcols, n, h + 2 * ph, w + 2 * pw, c, kh, kw, sh, sw, ho, wo, crop=(ph, pw, h, w))
        return dx.transpose(0, 3, 1, 2)


class ConvTranspose2D(_ConvBase):
    r"""Transposed ("fractionally-strided") 2-D convolution, the upsampling layer of DCGAN.

    Shapes: x (N, Ci, H, W); weight (Ci, Co, kh, kw) (PyTorch's layout: input channels
    first); bias (Co,); y (N, Co, Ho, Wo) with
    ``Ho = (H - 1)*sh - 2*ph + kh + oph`` (likewise Wo), ``output_padding < stride``.

    It is the adjoint of ``Conv2D(Co, Ci, k, s, p)`` with the same weight: each input
    pixel *scatters* a kh x kw patch, scaled by its value, onto the output at stride s::

        y_full[n, o, a*sh + i, b*sw + j] += sum_c x[n, c, a, b] * W[c, o, i, j]
        y = y_full[:, :, ph : ph + Ho, pw : pw + Wo] + b[o]

    As matrices: ``Xm`` is x as (N*H*W, Ci); ``Wm`` the weight as (Ci, kh*kw*Co);
    ``y = crop(col2im(Xm @ Wm))``, cropped as it is summed. (output_padding only makes y_full one row/column
    longer at the bottom/right, so the output size is unambiguous.)

    Backward, given G = dL/dy (N, Co, Ho, Wo) zero-padded back to y_full's size::

        Gc     = im2col(G_full)          (N*H*W, kh*kw*Co)   windows at stride s
        dL/dx  = Gc @ Wm.T               (N*H*W, Ci) -> (N, Ci, H, W)
        dL/dWm = Xm.T @ Gc               (Ci, kh*kw*Co) -> weight.grad (Ci, Co, kh, kw)
        dL/db  = sum_{n,a,b} G[n, :, a, b]

    i.e. the backward pass is an ordinary strided convolution. Cache: Xm.
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

    def _extra_repr(self) -> str:
        return f", op={self.output_padding}" if any(self.output_padding) else ""

    def output_shape(self, input_shape):
        n, _, h, w = input_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        oph, opw = self.output_padding
        return (n, self.out_channels, (h - 1) * sh - 2 * ph + kh + oph, (w - 1) * sw - 2 * pw + kw + opw)

    def forward(self, x, training=None):
        self._check_input(x, ndim=4, channels=self.in_channels)
        n, ci, h, w = x.shape
        _, co, ho, wo = self.output_shape(x.shape)
        if ho < 1 or wo < 1:
            raise ValueError(f"{self!r}: input {h}x{w} gives an empty output ({ho}x{wo})")
        y, self._cache = self._linear(x)
        if self.bias is not None:
            y += self.bias.data
        return y.transpose(0, 3, 1, 2)

    def _linear(self, x):
        """(y, cache): y = crop(col2im(Xm @ Wm)), (N, Ho, Wo, Co) channels-last, without the bias."""
        n, ci, h, w = x.shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        _, co, ho, wo = self.output_shape(x.shape)
        xm = x.transpose(0, 2, 3, 1).reshape(n * h * w, ci)
        cols = xm @ self._wmat()
        y = col2im(cols, n, ho + 2 * ph, wo + 2 * pw, co, kh, kw, sh, sw, h, w, crop=(ph, pw, ho, wo))
        return y, (xm, x.shape)

    def _grad_cols(self, grad_out, h, w):
        """im2col of dL/dy padded back to y_full: the windows every input pixel wrote to."""
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return im2col(pad_nhwc(grad_out, ph, pw), kh, kw, sh, sw, h, w)

    def double_backward(self, ggx, grad_out):
        _, shape = self._forward_cache()
        self._check_second(ggx, grad_out, shape, self.output_shape(shape))
        y, (gm, _) = self._linear(ggx)
        if self.requires_grad:
            self._accumulate_weight_grad(gm.T @ self._grad_cols(grad_out, shape[2], shape[3]))
        return y.transpose(0, 3, 1, 2), None

    def backward(self, grad_out):
        xm, (n, ci, h, w) = self._cached()
        self._check_grad(grad_out, self.output_shape((n, ci, h, w)))
        if self.bias is not None and self.requires_grad:
            self.bias.grad += grad_out.sum(axis=(0, 2, 3))
        gc = self._grad_cols(grad_out, h, w)
        if self.requires_grad:
            self._accumulate_weight_grad(xm.T @ gc)
        if not self.input_grad:
            return None
        dx = gc @ self._wmat().T
        return dx.reshape(n, h, w, ci).transpose(0, 3, 1, 2)
