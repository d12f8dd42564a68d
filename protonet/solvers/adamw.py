"""AdamW (Loshchilov and Hutter 2019), torch.optim.AdamW's algorithm: decoupled weight decay, then Adam.

    w <- w - local_rate * wd * w        (wd = weight_decay * decay_mult; L1: w - local_rate * wd * sign(w))
    m <- beta1 * m + (1 - beta1) * g                                   (history 0)
    v <- beta2 * v + (1 - beta2) * g^2                                 (history 1)
    t = iter + 1
    update = local_rate / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + delta)
with beta1 = momentum (0.9 when unset), beta2 = momentum2, and weight_decay 0.01 when unset (torch's
defaults). The gradient itself gets no weight decay: AdamW is the one rule without Caffe's coupled L2.
"""

from __future__ import annotations

import numpy as np

from ..ops.blas import axpy
from .adam import TorchAdamRule, update_moments


class AdamW(TorchAdamRule):
    type = "AdamW"
    defaults = {"momentum": 0.9, "weight_decay": 0.01}

    def regularise(self, part: slice, w: np.ndarray, g: np.ndarray, decay_mult: float, local_rate: float
                   ) -> None:
        decay = self.value("weight_decay") * decay_mult * local_rate
        if decay and self.param.regularization_type == "L2":
            w *= 1.0 - decay
        elif decay:
            axpy(-decay, np.sign(w, out=self.scratch(0, part)), w)

    def compute(self, k: int, part: slice, g: np.ndarray, local_rate: float, iteration: int) -> None:
        m, v = self.histories(k, part)
        update_moments(m, v, g, *self.betas(), self.scratch(0, part))
        self.adam_step(part, m, v, g, local_rate, iteration + 1)
