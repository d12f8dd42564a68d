"""Dropout (inverted): in TRAIN y = x * m / (1 - ratio) with m ~ Bernoulli(1 - ratio); in TEST y = x."""

from __future__ import annotations

import numpy as np

from .base import Blobs
from .neuron import NeuronLayer
from .registry import register


@register("Dropout")
class Dropout(NeuronLayer):
    """Zeroes each value with probability dropout_ratio in training and scales the rest by 1 / (1 - ratio)."""

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        self.ratio = self.param.dropout_param.dropout_ratio
        if not 0 <= self.ratio < 1:
            raise self.error(f"dropout_ratio must be in [0, 1), got {self.ratio:g}")

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        x = bottom[0].data
        if not self.ctx.training:
            np.copyto(top[0].data, x)
            return
        # the mask holds m / (1 - ratio), so forward and backward are one multiplication
        keep = self.ctx.rng.random(x.shape, dtype=x.dtype) >= self.ratio
        self.mask = keep * x.dtype.type(1 / (1 - self.ratio))
        np.multiply(x, self.mask, out=top[0].data)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        if not propagate_down[0]:
            return
        if self.ctx.training:
            np.multiply(top[0].diff, self.mask, out=bottom[0].diff)
        else:
            np.copyto(bottom[0].diff, top[0].diff)
