"""SGD with momentum, Caffe's form: the history holds lr-scaled steps.

    h <- local_rate * g + momentum * h        (one BLAS axpby, as Caffe's caffe_cpu_axpby)
    update = h
"""

from __future__ import annotations

import numpy as np

from ..ops.blas import axpby
from .rule import UpdateRule


class SGD(UpdateRule):
    type = "SGD"

    def compute(self, k: int, part: slice, g: np.ndarray, local_rate: float, iteration: int) -> None:
        (h,) = self.histories(k, part)
        axpby(local_rate, g, self.param.momentum, h)
        g[...] = h
