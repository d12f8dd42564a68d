"""AbsVal: y = |x|."""

from __future__ import annotations

import numpy as np

from .base import Blobs
from .neuron import NeuronLayer
from .registry import register


@register("AbsVal")
class AbsVal(NeuronLayer):
    """Absolute value, y = |x|; dx = dy * sign(x)."""

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        np.abs(self.keep_input(bottom, top), out=top[0].data)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        if propagate_down[0]:
            np.multiply(top[0].diff, np.sign(self.kept_input(top, bottom)), out=bottom[0].diff)
