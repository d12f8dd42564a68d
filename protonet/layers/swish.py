"""Swish: y = x sigmoid(beta x)."""

from __future__ import annotations

import numpy as np

from .base import Blobs
from .neuron import NeuronLayer, sigmoid
from .registry import register


@register("Swish")
class Swish(NeuronLayer):
    """y = x * s with s = sigmoid(beta x); dx = dy * (beta y + s (1 - beta y))."""

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        self.beta = self.param.swish_param.beta

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        x = bottom[0].data
        self.gate = sigmoid(self.beta * x)
        np.multiply(x, self.gate, out=top[0].data)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        if propagate_down[0]:
            by = self.beta * top[0].data
            np.multiply(top[0].diff, by + self.gate * (1 - by), out=bottom[0].diff)
