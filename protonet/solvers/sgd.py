"""SGD with momentum, Caffe's form: the history holds lr-scaled steps.

    h <- local_rate * g + momentum * h
    update = h
"""

from __future__ import annotations

import numpy as np

from .rule import UpdateRule


class SGD(UpdateRule):
    type = "SGD"

    def compute(self, k: int, part: slice, g: np.ndarray, local_rate: float, iteration: int) -> None:
        (h,) = self.histories(k, part)
        h *= self.param.momentum
        g *= local_rate
        h += g
        g[...] = h
