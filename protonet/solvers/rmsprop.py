"""RMSProp (Tieleman and Hinton 2012), Caffe's form.

    h <- rms_decay * h + (1 - rms_decay) * g^2
    update = local_rate * g / (sqrt(h) + delta)
"""

from __future__ import annotations

import numpy as np

from .rule import UpdateRule


class RMSProp(UpdateRule):
    type = "RMSProp"

    def compute(self, k: int, part: slice, g: np.ndarray, local_rate: float, iteration: int) -> None:
        decay = self.param.rms_decay
        (h,) = self.histories(k, part)
        tmp = self.scratch(0, part)
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - decay
        h *= decay
        h += tmp
        np.sqrt(h, out=tmp)
        tmp += self.param.delta
        g /= tmp
        g *= local_rate
