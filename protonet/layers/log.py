"""Log: y = log_base(shift + scale x)."""

from __future__ import annotations

import numpy as np

from .base import Blobs
from .neuron import NeuronLayer, ln_base
from .registry import register


@register("Log")
class Log(NeuronLayer):
    """y = ln(shift + scale x) / ln(base) (base -1 = e); dx = dy * scale / (ln(base) (shift + scale x))."""

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.log_param
        self.ln_base = ln_base(self, p.base)
        if self.ln_base == 0:
            raise self.error("log_param.base 1 has no logarithm", hint="use a positive base other than 1")
        self.scale, self.shift = p.scale, p.shift

    def _argument(self, x: np.ndarray) -> np.ndarray:
        return self.shift + self.scale * x

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        y = top[0].data
        np.log(self._argument(self.keep_input(bottom, top)), out=y)
        y /= self.ln_base

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        if propagate_down[0]:
            u = self._argument(self.kept_input(top, bottom))
            np.multiply(top[0].diff, (self.scale / self.ln_base) / u, out=bottom[0].diff)
