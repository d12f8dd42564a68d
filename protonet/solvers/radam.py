"""RAdam (Liu et al. 2020), torch.optim.RAdam's algorithm: Adam with its variance rectified.

    m <- beta1 * m + (1 - beta1) * g                      (history 0)
    v <- beta2 * v + (1 - beta2) * g^2                    (history 1)
    t = iter + 1,  rho_inf = 2 / (1 - beta2) - 1,  rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
    rho_t > 5:  r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
                update = local_rate * m / (1 - beta1^t) * r * sqrt(1 - beta2^t) / (sqrt(v) + delta)
    else:       update = local_rate * m / (1 - beta1^t)              (plain momentum while rho_t is small)
with beta1 = momentum (0.9 when unset), beta2 = momentum2.
"""

from __future__ import annotations

import math

import numpy as np

from .adam import TorchAdamRule, update_moments


class RAdam(TorchAdamRule):
    type = "RAdam"

    def compute(self, k: int, part: slice, g: np.ndarray, local_rate: float, iteration: int) -> None:
        beta1, beta2 = self.betas()
        m, v = self.histories(k, part)
        tmp = self.scratch(0, part)
        update_moments(m, v, g, beta1, beta2, tmp)
        t = iteration + 1
        correction2 = 1.0 - beta2**t
        rho_inf = 2.0 / (1.0 - beta2) - 1.0
        rho = rho_inf - 2.0 * t * beta2**t / correction2
        scale = local_rate / (1.0 - beta1**t)
        if rho > 5.0:
            rect = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            np.sqrt(v, out=tmp)
            tmp += self.param.delta
            np.divide(m, tmp, out=g)
            g *= scale * rect * math.sqrt(correction2)
        else:
            np.multiply(m, scale, out=g)
