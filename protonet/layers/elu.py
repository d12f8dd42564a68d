"""ELU: y = x for x > 0, alpha (exp(x) - 1) otherwise."""

from __future__ import annotations

import numpy as np

from .base import Blobs
from .neuron import NeuronLayer
from .registry import register


@register("ELU")
class ELU(NeuronLayer):
    """Exponential linear unit, y = x if x > 0 else alpha (exp(x) - 1).

    dx = dy * (1 if x > 0 else y + alpha).
    """

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        self.alpha = self.param.elu_param.alpha

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        x = self.keep_input(bottom, top)
        negative = self.alpha * np.expm1(np.minimum(x, 0))
        np.copyto(top[0].data, np.where(x > 0, x, negative))

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        if not propagate_down[0]:
            return
        x = self.kept_input(top, bottom)
        y = top[0].data
        np.multiply(top[0].diff, np.where(x > 0, 1, y + self.alpha), out=bottom[0].diff)
