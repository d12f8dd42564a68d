"""Convolution: y = W * x + b over 2-D images, with Caffe's pad, stride, dilation and groups."""

from __future__ import annotations

from functools import partial

import numpy as np

from ..ops import parallel
from ..ops.conv import Conv2D
from .base import Blobs
from .conv_base import ConvolutionBase
from .registry import register


@register("Convolution")
class Convolution(ConvolutionBase):
    """2-D convolution (cross-correlation), y = W * x + b; W is (num_output, C/group, kh, kw)."""

    runs_parts = True

    def weight_shape(self, channels: int) -> tuple[int, int, int, int]:
        p = self.param.convolution_param
        return (p.num_output, channels // p.group, *self.geometry.kernel)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return self.geometry.output_size(height, width)

    def supports_channels_last(self) -> bool:
        return True

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        """Part by part of the batch (Conv2D.batch_chunks), the parts spread over the threads of
        ops.parallel, each with its own kernels; a thread's col is kept for backward when it had one part."""
        self.plans = []
        for index, (b, t) in enumerate(zip(bottom, top, strict=True)):
            ops = self.thread_ops(index, parallel.threads())
            parts = ops[0].batch_chunks(b.data, len(ops))
            plan = (ops[:len(parts)], parts, [None] * min(len(ops), len(parts)))
            parallel.run(partial(self._forward_parts, plan, b.data, t.data), len(plan[2]))
            self.plans.append(plan)

    def _forward_parts(self, plan: tuple, x: np.ndarray, y: np.ndarray, k: int) -> None:
        ops, parts, kept = plan
        bias = self.bias()
        mine = parts[k::len(kept)]
        for part in mine:
            col = ops[k].im2col(x[part])
            ops[k].forward(col, self.blobs[0].data, bias.data if bias else None, y[part])
        kept[k] = col if len(mine) == 1 else None

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        """Each thread adds its parts' weight and bias gradients to its own arrays (the first thread: to the
        blobs' diffs), summed at the end."""
        weights, bias = self.blobs[0], self.bias()
        for plan, t, b, down in zip(self.plans, top, bottom, propagate_down, strict=True):
            count = len(plan[2])
            grads = [(weights.diff, bias.diff if bias else None)]
            for k in range(1, count):
                grads.append(self._partial_grads(k))
            dx = b.diff if down else None  # made here: a Blob makes its diff on first use, not thread-safe
            parallel.run(partial(self._backward_parts, plan, grads, t.diff, b.data, dx), count)
            for weight_grad, bias_grad in grads[1:]:
                weights.diff += weight_grad
                if bias:
                    bias.diff += bias_grad

    def _backward_parts(self, plan: tuple, grads: list, dy: np.ndarray, x: np.ndarray, dx: np.ndarray | None,
                        k: int) -> None:
        ops, parts, kept = plan
        weight_grad, bias_grad = grads[k]
        op: Conv2D = ops[k]
        for part in parts[k::len(kept)]:
            rows = op.rows(dy[part])
            op.weight_grad(op.im2col(x[part]) if kept[k] is None else kept[k], rows, weight_grad, bias_grad)
            if dx is not None:
                op.input_grad(dy[part], rows, self.blobs[0].data, dx[part])

    def _partial_grads(self, k: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Thread k's zeroed arrays for the weight and bias gradients."""
        partials = self.__dict__.setdefault("_partials", {})
        if k not in partials or partials[k][0].shape != self.blobs[0].shape:
            bias = self.bias()
            partials[k] = (np.empty_like(self.blobs[0].data), np.empty_like(bias.data) if bias else None)
        for array in partials[k]:
            if array is not None:
                array.fill(0)
        return partials[k]
