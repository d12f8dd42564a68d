"""QHAdam (Ma and Yarats 2019, "Quasi-hyperbolic momentum and Adam for deep learning"), the paper's form.

    m <- beta1 * m + (1 - beta1) * g                      (history 0)
    v <- beta2 * v + (1 - beta2) * g^2                    (history 1)
    t = iter + 1,  m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)
    update = local_rate * ((1 - nu1) g + nu1 m_hat) / (sqrt((1 - nu2) g^2 + nu2 v_hat) + delta)
with beta1 = momentum, beta2 = momentum2, and the paper's recommended setting for unset fields:
nu1 = 0.7, nu2 = 1 (the schema's defaults), beta1 = 0.995. nu1 = nu2 = 1 is Adam (torch's form).
"""

from __future__ import annotations

import numpy as np

from ..ops.blas import axpy
from ..proto import pb
from .adam import TorchAdamRule, update_moments
from .rule import Fail


class QHAdam(TorchAdamRule):
    type = "QHAdam"
    defaults = {"momentum": 0.995}

    @classmethod
    def check(cls, param: pb.SolverParameter, fail: Fail) -> None:
        super().check(param, fail)
        for name in ("nu1", "nu2"):
            if not 0 <= getattr(param, name) <= 1:
                raise fail(f"{name} must lie in [0, 1], found {getattr(param, name):g}")

    def compute(self, k: int, part: slice, g: np.ndarray, local_rate: float, iteration: int) -> None:
        beta1, beta2 = self.betas()
        nu1, nu2 = self.param.nu1, self.param.nu2
        m, v = self.histories(k, part)
        tmp = self.scratch(0, part)
        update_moments(m, v, g, beta1, beta2, tmp)
        t = iteration + 1
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - nu2
        axpy(nu2 / (1.0 - beta2**t), v, tmp)
        np.sqrt(tmp, out=tmp)
        tmp += self.param.delta
        g *= 1.0 - nu1
        axpy(nu1 / (1.0 - beta1**t), m, g)
        g /= tmp
        g *= local_rate
