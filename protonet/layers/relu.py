"""ReLU: y = max(x, 0) + negative_slope * min(x, 0)."""

from __future__ import annotations

import numpy as np

from .base import Blobs
from .neuron import NeuronLayer
from .registry import register


@register("ReLU")
class ReLU(NeuronLayer):
    """Rectified linear unit, y = max(x, 0) + negative_slope * min(x, 0) (leaky when the slope is non-zero)."""

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        self.slope = self.param.relu_param.negative_slope

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        x = bottom[0].data
        if self.slope:
            np.multiply(x, np.where(x > 0, 1, self.slope).astype(x.dtype, copy=False), out=top[0].data)
        else:
            np.maximum(x, 0, out=top[0].data)

    def supports_channels_last(self) -> bool:
        return True

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        if not propagate_down[0]:
            return
        # in place, top data is the output; y > 0 exactly where x > 0 (slope >= 0)
        positive = top[0].data > 0
        if self.slope:
            bottom[0].diff[...] = top[0].diff * np.where(positive, 1, self.slope)
        else:
            np.multiply(top[0].diff, positive, out=bottom[0].diff)
