"""SGD with momentum, Caffe's form: the history holds lr-scaled steps.

    h <- local_rate * g + momentum * h
    update = h
"""

from __future__ import annotations

import numpy as np

from .rule import UpdateRule


class SGD(UpdateRule):
    type = "SGD"

    def compute(self, k: int, g: np.ndarray, local_rate: float, iteration: int) -> None:
        h = self.history[0][k]
        h *= self.param.momentum
        g *= local_rate
        h += g
        g[...] = h
