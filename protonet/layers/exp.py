"""Exp: y = base^(shift + scale x)."""

from __future__ import annotations

import numpy as np

from .base import Blobs
from .neuron import NeuronLayer, ln_base
from .registry import register


@register("Exp")
class Exp(NeuronLayer):
    """y = base^(shift + scale x) (base -1 = e); dx = dy * y * scale ln(base)."""

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.exp_param
        ln = ln_base(self, p.base)
        self.inner, self.offset = ln * p.scale, ln * p.shift  # y = exp(inner x + offset)

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        y = top[0].data
        np.multiply(bottom[0].data, self.inner, out=y)
        y += self.offset
        np.exp(y, out=y)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        if propagate_down[0]:
            np.multiply(top[0].diff, self.inner * top[0].data, out=bottom[0].diff)
