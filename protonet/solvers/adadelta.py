"""AdaDelta (Zeiler 2012), Caffe's form (which keeps a learning rate; base_lr 1 is the paper's).

    hg <- momentum * hg + (1 - momentum) * g^2                  (history 0: squared gradients)
    u = g * sqrt((hu + delta) / (hg + delta))
    hu <- momentum * hu + (1 - momentum) * u^2                  (history 1: squared updates)
    update = local_rate * u
"""

from __future__ import annotations

import numpy as np

from .rule import UpdateRule


class AdaDelta(UpdateRule):
    type = "AdaDelta"
    num_histories = 2
    num_scratch = 2

    def compute(self, k: int, part: slice, g: np.ndarray, local_rate: float, iteration: int) -> None:
        momentum, delta = self.param.momentum, self.param.delta
        hg, hu = self.histories(k, part)
        tmp, denom = self.scratch(0, part), self.scratch(1, part)
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - momentum
        hg *= momentum
        hg += tmp
        np.add(hu, delta, out=tmp)
        np.add(hg, delta, out=denom)
        tmp /= denom
        np.sqrt(tmp, out=tmp)
        g *= tmp
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - momentum
        hu *= momentum
        hu += tmp
        g *= local_rate
