"""Reduction: sums (or |x|, x^2, mean) over all axes from `axis` on, times coeff."""

from __future__ import annotations

import numpy as np

from ..proto import pb
from .base import Blobs, Layer, canonical_axis
from .registry import register

Op = pb.ReductionParameter


@register("Reduction")
class Reduction(Layer):
    """y = coeff * reduce(x) over the axes from `axis` on: SUM, ASUM (sum |x|), SUMSQ (sum x^2) or MEAN.

    dx = coeff * dy * (1, sign(x), 2x or 1/n respectively).
    """

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.reduction_param
        self.op, self.coeff = p.operation, p.coeff

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        shape = bottom[0].shape
        self.axis = canonical_axis(self.param.reduction_param.axis, len(shape), self.name)
        top[0].reshape(shape[:self.axis])

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        x = bottom[0].data.reshape(top[0].count, -1)
        mapped = {Op.ASUM: np.abs, Op.SUMSQ: np.square}.get(self.op, np.asarray)(x)
        total = mapped.mean(axis=1) if self.op == Op.MEAN else mapped.sum(axis=1)
        np.multiply(total.reshape(top[0].shape), self.coeff, out=top[0].data)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        if not propagate_down[0]:
            return
        x = bottom[0].data.reshape(top[0].count, -1)
        dx = bottom[0].diff.reshape(x.shape)
        dy = (self.coeff * top[0].diff).reshape(-1, 1)
        if self.op == Op.ASUM:
            np.multiply(np.sign(x), dy, out=dx)
        elif self.op == Op.SUMSQ:
            np.multiply(x, 2 * dy, out=dx)
        else:
            dx[...] = dy / x.shape[1] if self.op == Op.MEAN else dy
