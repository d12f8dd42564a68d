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

from ..proto import pb
from .rule import Fail, UpdateRule


def update_moment(m: np.ndarray, g: np.ndarray, beta: float, tmp: np.ndarray) -> None:
    """m <- beta m + (1 - beta) g, in place (`tmp`: scratch)."""
    m *= beta
    np.multiply(g, 1.0 - beta, out=tmp)
    m += tmp


def update_moments(m: np.ndarray, v: np.ndarray, g: np.ndarray, beta1: float, beta2: float,
                   tmp: np.ndarray) -> None:
    """m <- beta1 m + (1 - beta1) g and v <- beta2 v + (1 - beta2) g^2, in place (`tmp`: scratch)."""
    update_moment(m, g, beta1, tmp)
    np.multiply(g, g, out=tmp)
    tmp *= 1.0 - beta2
    v *= beta2
    v += tmp


class Adam(UpdateRule):
    type = "Adam"
    num_histories = 2

    def compute(self, k: int, part: slice, g: np.ndarray, local_rate: float, iteration: int) -> None:
        beta1, beta2 = self.param.momentum, self.param.momentum2
        m, v = self.histories(k, part)
        tmp = self.scratch(0, part)
        update_moments(m, v, g, beta1, beta2, tmp)
        t = iteration + 1
        correction = math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
        np.sqrt(v, out=tmp)
        tmp += self.param.delta
        np.divide(m, tmp, out=g)
        g *= local_rate * correction


class TorchAdamRule(UpdateRule):
    """Base of the rules that follow torch.optim: beta1 (momentum) defaults to torch's 0.9, and both
    betas must lie in [0, 1), as torch checks."""

    num_histories = 2
    defaults = {"momentum": 0.9}

    @classmethod
    def check(cls, param: pb.SolverParameter, fail: Fail) -> None:
        for name in ("momentum", "momentum2"):
            if param.HasField(name) and not 0 <= getattr(param, name) < 1:
                raise fail(f"{name} (a beta of {cls.type}) must lie in [0, 1), found {getattr(param, name):g}")
        if param.delta < 0:
            raise fail(f"delta must be >= 0, found {param.delta:g}")

    def betas(self) -> tuple[float, float]:
        return self.value("momentum"), self.value("momentum2")

    def adam_step(self, part: slice, m: np.ndarray, v: np.ndarray, g: np.ndarray, local_rate: float,
                  t: int) -> None:
        """torch's Adam step into g: lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)."""
        beta1, beta2 = self.betas()
        tmp = self.scratch(0, part)
        np.sqrt(v, out=tmp)
        tmp /= math.sqrt(1.0 - beta2**t)
        tmp += self.param.delta
        np.divide(m, tmp, out=g)
        g *= local_rate / (1.0 - beta1**t)
