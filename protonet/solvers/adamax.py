"""Adamax (Kingma and Ba 2014, section 7.1), torch.optim.Adamax's algorithm: Adam under the infinity norm.

    m <- beta1 * m + (1 - beta1) * g                    (history 0)
    u <- max(beta2 * u, |g| + delta)                    (history 1)
    t = iter + 1
    update = local_rate / (1 - beta1^t) * m / u
with beta1 = momentum (0.9 when unset), beta2 = momentum2.
"""

from __future__ import annotations

import numpy as np

from .adam import TorchAdamRule, update_moment


class Adamax(TorchAdamRule):
    type = "Adamax"

    def compute(self, k: int, part: slice, g: np.ndarray, local_rate: float, iteration: int) -> None:
        beta1, beta2 = self.betas()
        m, u = self.histories(k, part)
        tmp = self.scratch(0, part)
        update_moment(m, g, beta1, tmp)
        np.abs(g, out=tmp)
        tmp += self.param.delta
        u *= beta2
        np.maximum(u, tmp, out=u)
        np.divide(m, u, out=g)
        g *= local_rate / (1.0 - beta1 ** (iteration + 1))
