"""AdaGrad (Duchi et al. 2011), Caffe's form.

    h <- h + g^2
    update = local_rate * g / (sqrt(h) + delta)
"""

from __future__ import annotations

import numpy as np

from .rule import UpdateRule


class AdaGrad(UpdateRule):
    type = "AdaGrad"

    def compute(self, k: int, part: slice, g: np.ndarray, local_rate: float, iteration: int) -> None:
        (h,) = self.histories(k, part)
        tmp = self.scratch(0, part)
        np.multiply(g, g, out=tmp)
        h += tmp
        np.sqrt(h, out=tmp)
        tmp += self.param.delta
        g /= tmp
        g *= local_rate
