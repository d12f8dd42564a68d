"""Sigmoid: y = 1 / (1 + exp(-x))."""

from __future__ import annotations

import numpy as np

from .base import Blobs
from .neuron import NeuronLayer, sigmoid
from .registry import register


@register("Sigmoid")
class Sigmoid(NeuronLayer):
    """Logistic function, y = 1 / (1 + exp(-x)); dx = dy * y (1 - y)."""

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        sigmoid(bottom[0].data, out=top[0].data)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        if propagate_down[0]:
            y = top[0].data
            np.multiply(top[0].diff, y * (1 - y), out=bottom[0].diff)
