"""Convolution: y = W * x + b over 2-D images, with Caffe's pad, stride, dilation and groups."""

from __future__ import annotations

from .base import Blobs
from .conv_base import ConvolutionBase
from .registry import register


@register("Convolution")
class Convolution(ConvolutionBase):
    """2-D convolution (cross-correlation), y = W * x + b; W is (num_output, C/group, kh, kw)."""

    def weight_shape(self, channels: int) -> tuple[int, int, int, int]:
        p = self.param.convolution_param
        return (p.num_output, channels // p.group, *self.geometry.kernel)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return self.geometry.output_size(height, width)

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        bias = self.bias()
        self.cols = []
        for op, b, t in zip(self.ops, bottom, top, strict=True):
            col = op.im2col(b.data)
            op.forward(col, self.blobs[0].data, bias.data if bias else None, t.data)
            self.cols.append(col)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        weights, bias = self.blobs[0], self.bias()
        for op, col, t, b, down in zip(self.ops, self.cols, top, bottom, propagate_down, strict=True):
            rows = op.rows(t.diff)
            op.weight_grad(col, rows, weights.diff)
            if bias:
                bias.diff += rows.sum(axis=2).reshape(-1)
            if down:
                op.data_grad(rows, weights.data, b.diff)
