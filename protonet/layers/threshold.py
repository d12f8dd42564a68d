"""Threshold: y = 1 where x > threshold, else 0."""

from __future__ import annotations

import numpy as np

from .base import Blobs
from .neuron import NeuronLayer
from .registry import register


@register("Threshold")
class Threshold(NeuronLayer):
    """Step function, y = 1 if x > threshold else 0 (no gradient: asking for one is an error)."""

    has_backward = False

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        np.greater(bottom[0].data, self.param.threshold_param.threshold, out=top[0].data)
