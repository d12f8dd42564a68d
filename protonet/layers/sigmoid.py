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
        if not propagate_down[0]:
            return
        y, dy, dx = top[0].data, top[0].diff, bottom[0].diff
        factor = dx  # y (1 - y) goes to dx first, unless dx is dy (in place): then to a kept array
        if dx is dy:
            factor = getattr(self, "_factor", None)
            if factor is None or factor.shape != y.shape:
                factor = self._factor = np.empty_like(y)
        np.subtract(1, y, out=factor)
        factor *= y
        np.multiply(dy, factor, out=dx)
