"""InnerProduct: y = x W^T + b over the axes from `axis` on, flattened."""

from __future__ import annotations

import numpy as np

from ..ops import parallel
from .base import Blobs, Layer, canonical_axis
from .registry import register


@register("InnerProduct")
class InnerProduct(Layer):
    """Fully connected layer, y = x W^T + b; W is (num_output, K), or (K, num_output) with transpose."""

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.inner_product_param
        if not p.num_output:
            raise self.error("inner_product_param.num_output must be set and positive")
        self.axis = canonical_axis(p.axis, bottom[0].num_axes, self.name)
        k = int(np.prod(bottom[0].shape[self.axis:]))
        shape = (k, p.num_output) if p.transpose else (p.num_output, k)
        self.blobs = [self.make_param(shape, p.weight_filler if p.HasField("weight_filler") else None)]
        if p.bias_term:
            bias_filler = p.bias_filler if p.HasField("bias_filler") else None
            self.blobs.append(self.make_param((p.num_output,), bias_filler))

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.inner_product_param
        k = int(np.prod(bottom[0].shape[self.axis:]))
        expected = self.blobs[0].shape[0 if p.transpose else 1]
        if k != expected:
            raise self.error(f"input has {k} features per item (shape {list(bottom[0].shape)}), "
                             f"the weights expect {expected}")
        top[0].reshape(bottom[0].shape[:self.axis] + (p.num_output,))

    def _weights(self) -> np.ndarray:
        """W as (K, num_output) for x @ W."""
        w = self.blobs[0].data
        return w if self.param.inner_product_param.transpose else w.T

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        x = bottom[0].data.reshape(-1, self.blobs[0].count // self.param.inner_product_param.num_output)
        y = top[0].data.reshape(x.shape[0], -1)
        parallel.matmul(x, self._weights(), y)
        if len(self.blobs) > 1:
            y += self.blobs[1].data

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        p = self.param.inner_product_param
        x = bottom[0].data.reshape(-1, self.blobs[0].count // p.num_output)
        dy = top[0].diff.reshape(x.shape[0], -1)
        weights = self.blobs[0]
        grad = weights.cleared_diff()  # dW accumulates: into a kept buffer first, unless the diff was cleared
        if grad is None:
            grad = getattr(self, "_weight_grad", None)
            if grad is None or grad.shape != weights.shape or grad.dtype != weights.dtype:
                grad = self._weight_grad = np.empty_like(weights.data)
        if p.transpose:
            parallel.matmul(x.T, dy, grad)
        else:
            parallel.matmul(dy.T, x, grad)
        if grad is not weights.diff:
            weights.diff += grad
        if len(self.blobs) > 1:
            self.blobs[1].diff += dy.sum(axis=0)
        if propagate_down[0]:
            parallel.matmul(dy, self._weights().T, bottom[0].diff.reshape(x.shape))
