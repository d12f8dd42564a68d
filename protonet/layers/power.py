"""Power: y = (shift + scale x)^power."""

from __future__ import annotations

import numpy as np

from .base import Blobs
from .neuron import NeuronLayer
from .registry import register


@register("Power")
class Power(NeuronLayer):
    """y = (shift + scale x)^power; dx = dy * power scale (shift + scale x)^(power - 1)."""

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.power_param
        self.power, self.scale, self.shift = p.power, p.scale, p.shift

    def _base(self, x: np.ndarray) -> np.ndarray:
        return self.shift + self.scale * x

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        x = self.keep_input(bottom, top)
        np.power(self._base(x), self.power, out=top[0].data)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        if not propagate_down[0]:
            return
        slope = self.power * self.scale
        if slope == 0:
            bottom[0].diff.fill(0)
        elif self.power == 1:
            np.multiply(top[0].diff, slope, out=bottom[0].diff)
        else:
            u = self._base(self.kept_input(top, bottom))
            np.multiply(top[0].diff, slope * np.power(u, self.power - 1), out=bottom[0].diff)
