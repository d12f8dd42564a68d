"""TanH: y = tanh(x)."""

from __future__ import annotations

import numpy as np

from .base import Blobs
from .neuron import NeuronLayer
from .registry import register


@register("TanH")
class TanH(NeuronLayer):
    """Hyperbolic tangent, y = tanh(x); dx = dy * (1 - y^2)."""

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        np.tanh(bottom[0].data, out=top[0].data)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        if propagate_down[0]:
            y = top[0].data
            np.multiply(top[0].diff, 1 - y * y, out=bottom[0].diff)
