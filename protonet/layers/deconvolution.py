"""Deconvolution: the transpose of Convolution (its backward-data pass as a forward), as Caffe's."""

from __future__ import annotations

from .base import Blobs
from .conv_base import ConvolutionBase
from .registry import register


@register("Deconvolution")
class Deconvolution(ConvolutionBase):
    """Transposed 2-D convolution, y = W^T * x + b; W is (C, num_output/group, kh, kw).

    Output size: stride * (in - 1) + dilation * (k - 1) + 1 - 2 * pad. The convolution kernels run
    with the roles swapped: the top is their image side, the bottom their output side.
    """

    def weight_shape(self, channels: int) -> tuple[int, int, int, int]:
        p = self.param.convolution_param
        return (channels, p.num_output // p.group, *self.geometry.kernel)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return self.geometry.input_size(height, width)

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        bias = self.bias()
        for op, b, t in zip(self.ops, bottom, top, strict=True):
            for part in op.batch_chunks(t.data):
                op.data_grad(op.rows(b.data[part]), self.blobs[0].data, t.data[part])
            if bias:
                t.data += bias.data[:, None, None]

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        weights, bias = self.blobs[0], self.bias()
        for op, t, b, down in zip(self.ops, top, bottom, propagate_down, strict=True):
            for part in op.batch_chunks(t.diff):
                col = op.im2col(t.diff[part])
                op.weight_grad(col, op.rows(b.data[part]), weights.diff)
                if down:
                    op.forward(col, weights.data, None, b.diff[part])
            if bias:
                bias.diff += t.diff.sum(axis=(0, 2, 3))
