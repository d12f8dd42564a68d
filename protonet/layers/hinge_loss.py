"""HingeLoss: one-vs-all hinge on the scores, L1 or L2 norm."""

from __future__ import annotations

import numpy as np

from ..proto import pb
from .base import Blobs
from .loss import ItemLossLayer, check_labels
from .registry import register


@register("HingeLoss")
class HingeLoss(ItemLossLayer):
    """One-vs-all hinge, L = sum_n sum_k max(0, 1 - d_nk x_nk)^p / N with d = +1 for the label, -1 otherwise.

    p = 1 (norm L1) or 2 (L2); scores are (N, K) (the axes after the first are flattened), labels N.
    Gradient: L1: -d * [margin > 0] * w / N; L2: -2 d * margin * w / N.
    """

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        self.squared = self.param.hinge_loss_param.norm == pb.HingeLossParameter.L2

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        x = bottom[0].data.reshape(self.num, self.classes)
        labels = check_labels(self, bottom[1].data.reshape(-1), self.classes, None)
        # sign = -d: +1 for the other classes, -1 for the label; margin = max(0, 1 + sign * x)
        self.sign = np.ones_like(x)
        self.sign[np.arange(self.num), labels] = -1
        self.margin = np.maximum(0, 1 + self.sign * x)
        total = np.vdot(self.margin, self.margin) if self.squared else self.margin.sum()
        top[0].data = total / self.num

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        self.refuse_gradient(propagate_down, 1)
        if not propagate_down[0]:
            return
        dx = bottom[0].diff.reshape(self.num, self.classes)
        weight = float(top[0].diff) / self.num
        if self.squared:
            np.multiply(self.sign, self.margin, out=dx)
            dx *= 2 * weight
        else:
            np.multiply(self.sign, self.margin > 0, out=dx)
            dx *= weight
