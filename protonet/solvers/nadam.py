"""NAdam (Dozat 2016), torch.optim.NAdam's algorithm: Adam with Nesterov momentum and a momentum schedule.

    mu_t = beta1 * (1 - 0.96^(t * psi) / 2),  P_t = mu_1 * ... * mu_t      (psi = momentum_decay, 0.004)
    m <- beta1 * m + (1 - beta1) * g                                         (history 0)
    v <- beta2 * v + (1 - beta2) * g^2                                       (history 1)
    t = iter + 1,  denom = sqrt(v / (1 - beta2^t)) + delta
    update = local_rate * ((1 - mu_t) / (1 - P_t) * g + mu_{t+1} / (1 - P_t * mu_{t+1}) * m) / denom
with beta1 = momentum (0.9 when unset), beta2 = momentum2. P_t is a function of t alone, so the state
holds m and v only; the product is recomputed after a restore, in the same order (the same bits).
"""

from __future__ import annotations

import numpy as np

from ..ops.blas import axpy
from .adam import TorchAdamRule, update_moments


class NAdam(TorchAdamRule):
    type = "NAdam"

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self._products = (0, 1.0)  # (t, P_t)

    def mu(self, t: int) -> float:
        return self.betas()[0] * (1.0 - 0.5 * 0.96 ** (t * self.param.momentum_decay))

    def begin(self, iteration: int) -> None:
        t, product = self._products
        if t > iteration + 1:
            t, product = 0, 1.0
        while t < iteration + 1:
            t += 1
            product *= self.mu(t)
        self._products = t, product

    def compute(self, k: int, part: slice, g: np.ndarray, local_rate: float, iteration: int) -> None:
        beta2 = self.betas()[1]
        t, product = self._products
        mu, mu_next = self.mu(t), self.mu(t + 1)
        m, v = self.histories(k, part)
        tmp = self.scratch(0, part)
        update_moments(m, v, g, *self.betas(), tmp)
        np.divide(v, 1.0 - beta2**t, out=tmp)
        np.sqrt(tmp, out=tmp)
        tmp += self.param.delta
        g *= local_rate * (1.0 - mu) / (1.0 - product)
        axpy(local_rate * mu_next / (1.0 - product * mu_next), m, g)
        g /= tmp
