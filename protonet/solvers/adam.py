"""Adam (Kingma and Ba 2014), Caffe's form: delta is added to sqrt(v), not to a corrected v.

    m <- beta1 * m + (1 - beta1) * g                            (history 0)
    v <- beta2 * v + (1 - beta2) * g^2                          (history 1)
    t = iter + 1
    update = local_rate * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + delta)
with beta1 = momentum, beta2 = momentum2.
"""

from __future__ import annotations

import math

import numpy as np

from .rule import UpdateRule


class Adam(UpdateRule):
    type = "Adam"
    num_histories = 2

    def compute(self, k: int, part: slice, g: np.ndarray, local_rate: float, iteration: int) -> None:
        beta1, beta2 = self.param.momentum, self.param.momentum2
        m, v = self.histories(k, part)
        tmp = self.scratch(0, part)
        m *= beta1
        np.multiply(g, 1.0 - beta1, out=tmp)
        m += tmp
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - beta2
        v *= beta2
        v += tmp
        t = iteration + 1
        correction = math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
        np.sqrt(v, out=tmp)
        tmp += self.param.delta
        np.divide(m, tmp, out=g)
        g *= local_rate * correction
