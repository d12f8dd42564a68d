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
        """Part by part of the batch (see Conv2D.batch_chunks); a single part's col is kept for backward."""
        bias = self.bias()
        self.cols = []
        for op, b, t in zip(self.ops, bottom, top, strict=True):
            parts = op.batch_chunks(b.data)
            for part in parts:
                col = op.im2col(b.data[part])
                op.forward(col, self.blobs[0].data, bias.data if bias else None, t.data[part])
            self.cols.append(col if len(parts) == 1 else None)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        weights, bias = self.blobs[0], self.bias()
        for op, col, t, b, down in zip(self.ops, self.cols, top, bottom, propagate_down, strict=True):
            for part in op.batch_chunks(b.data):
                rows = op.rows(t.diff[part])
                op.weight_grad(op.im2col(b.data[part]) if col is None else col, rows, weights.diff)
                if bias:
                    bias.diff += rows.sum(axis=2).reshape(-1)
                if down:
                    op.input_grad(t.diff[part], rows, weights.data, b.diff[part])
