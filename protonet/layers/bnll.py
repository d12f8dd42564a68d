"""BNLL (binomial normal log likelihood): the softplus y = log(1 + exp(x))."""

from __future__ import annotations

import numpy as np

from .base import Blobs
from .neuron import NeuronLayer
from .registry import register


@register("BNLL")
class BNLL(NeuronLayer):
    """Softplus, y = log(1 + exp(x)) = max(x, 0) + log(1 + exp(-|x|)); dx = dy * sigmoid(x).

    sigmoid(x) = 1 - exp(-y), so backward needs only the top (and works in place).
    """

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        x = bottom[0].data
        np.copyto(top[0].data, np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x))))

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        if propagate_down[0]:
            np.multiply(top[0].diff, -np.expm1(-top[0].data), out=bottom[0].diff)
