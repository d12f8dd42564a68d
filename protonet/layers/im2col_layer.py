"""Im2col: the image-to-column step of a convolution as a layer of its own (a Caffe relic)."""

from __future__ import annotations

import numpy as np

from ..ops.conv import Buffers, Conv2D, ConvGeometry
from .base import Blobs
from .conv_base import ConvolutionBase
from .registry import register


@register("Im2col")
class Im2col(ConvolutionBase):
    """Unfolds every convolution window into channels: (N, C, H, W) -> (N, C*kh*kw, OH, OW).

    y[n, (c, i, j), p, q] = xpad[n, c, p*sh + i*dh, q*sw + j*dw], channel index c*kh*kw + i*kw + j
    as in Caffe; kernel, stride, pad and dilation come from convolution_param (no weights; group
    and num_output are ignored). Backward is col2im: dx sums dy over every window holding x.
    """

    bottoms = (1, 1)
    tops = (1, 1)

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.convolution_param
        if p.axis not in (1, -3):
            raise self.error(f"im2col takes the channels on axis 1 of (N, C, H, W), not axis {p.axis}")
        self.geometry = ConvGeometry(kernel=self._pair(p, "kernel_size", "kernel_h", "kernel_w", None),
                                     stride=self._pair(p, "stride", "stride_h", "stride_w", 1),
                                     pad=self._pair(p, "pad", "pad_h", "pad_w", 0),
                                     dilation=self._pair(p, "dilation", None, None, 1))
        if min(self.geometry.kernel + self.geometry.stride + self.geometry.dilation) < 1:
            raise self.error(f"kernel {self.geometry.kernel}, stride {self.geometry.stride} and dilation "
                             f"{self.geometry.dilation} must be positive")
        self.op = Conv2D(self.geometry)
        self.buffers = Buffers()

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        if bottom[0].num_axes != 4:
            raise self.error(f"only 2-D im2col over (N, C, H, W) is supported; got input shape "
                             f"{list(bottom[0].shape)}")
        n, c, h, w = bottom[0].shape
        oh, ow = self.geometry.output_size(h, w)
        if oh < 1 or ow < 1:
            g = self.geometry
            raise self.error(f"input {h}x{w} gives an empty output ({oh}x{ow}) with kernel {g.kernel}, "
                             f"pad {g.pad}, stride {g.stride}, dilation {g.dilation}")
        top[0].reshape((n, c * self.geometry.kernel[0] * self.geometry.kernel[1], oh, ow))

    def _windows(self, y: np.ndarray) -> np.ndarray:
        """y (N, C*kh*kw, OH, OW) viewed as (N, C, kh, kw, OH, OW)."""
        n, _, oh, ow = y.shape
        return y.reshape(n, -1, *self.geometry.kernel, oh, ow)

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        x, y = bottom[0].data, top[0].data
        (n, c), (kh, kw), (oh, ow) = x.shape[:2], self.geometry.kernel, y.shape[2:]
        col = self.op.im2col(x)[..., :-1]  # (1, N*OH*OW, kh*kw*C), without the column of ones
        np.copyto(self._windows(y), col.reshape(n, oh, ow, kh, kw, c).transpose(0, 5, 3, 4, 1, 2))

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        """col2im: for each kernel offset (i, j), dy[:, :, i, j] is added to the strided window of dxpad."""
        if not propagate_down[0]:
            return
        dx, dy = bottom[0].diff, self._windows(top[0].diff)
        (n, c, h, w), (oh, ow) = dx.shape, dy.shape[4:]
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (self.geometry.kernel, self.geometry.stride,
                                                  self.geometry.pad, self.geometry.dilation)
        padded = self.buffers.get("col2im", (n, c, h + 2 * ph, w + 2 * pw), dx.dtype)
        padded.fill(0)
        for i in range(kh):
            for j in range(kw):
                rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
                padded[:, :, rows, j * dw:j * dw + sw * (ow - 1) + 1:sw] += dy[:, :, i, j]
        np.copyto(dx, padded[:, :, ph:ph + h, pw:pw + w])
