"""MultinomialLogisticLoss: -log of the probability given to the label (probabilities as input)."""

from __future__ import annotations

import numpy as np

from .base import Blobs
from .loss import LOG_THRESHOLD, ItemLossLayer, check_labels
from .registry import register


@register("MultinomialLogisticLoss")
class MultinomialLogisticLoss(ItemLossLayer):
    """L = -sum_n log(max(p[n, label_n], 1e-20)) / N for probabilities p (N, K); dp[n, label] = -w / (N p)."""

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        p = bottom[0].data.reshape(self.num, self.classes)
        self.labels = check_labels(self, bottom[1].data.reshape(-1), self.classes, None)
        self.picked = np.maximum(p[np.arange(self.num), self.labels], LOG_THRESHOLD)
        top[0].data = -np.log(self.picked).sum() / self.num

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        self.refuse_gradient(propagate_down, 1)
        if not propagate_down[0]:
            return
        dp = bottom[0].diff.reshape(self.num, self.classes)
        dp.fill(0)
        dp[np.arange(self.num), self.labels] = -float(top[0].diff) / self.num / self.picked
