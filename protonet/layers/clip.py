"""Clip: y = min(max(x, min), max)."""

from __future__ import annotations

import numpy as np

from .base import Blobs
from .neuron import NeuronLayer
from .registry import register


@register("Clip")
class Clip(NeuronLayer):
    """Clamp to [min, max], y = min(max(x, min), max); dx = dy where min <= x <= max, else 0."""

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.clip_param
        self.low, self.high = p.min, p.max
        if self.low > self.high:
            raise self.error(f"clip_param.min ({self.low:g}) is above clip_param.max ({self.high:g})")

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        np.clip(self.keep_input(bottom, top), self.low, self.high, out=top[0].data)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        if propagate_down[0]:
            x = self.kept_input(top, bottom)
            np.multiply(top[0].diff, (x >= self.low) & (x <= self.high), out=bottom[0].diff)
