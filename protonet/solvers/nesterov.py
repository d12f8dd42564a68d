"""Nesterov's accelerated gradient, Caffe's form (step back, then over-step).

    h_old = h
    h <- local_rate * g + momentum * h
    update = (1 + momentum) * h - momentum * h_old
"""

from __future__ import annotations

import numpy as np

from .rule import UpdateRule


class Nesterov(UpdateRule):
    type = "Nesterov"

    def compute(self, k: int, part: slice, g: np.ndarray, local_rate: float, iteration: int) -> None:
        momentum = self.param.momentum
        (h,) = self.histories(k, part)
        h_old = self.scratch(0, part)
        h_old[...] = h
        h *= momentum
        g *= local_rate
        h += g
        np.multiply(h, 1.0 + momentum, out=g)
        h_old *= momentum
        g -= h_old
