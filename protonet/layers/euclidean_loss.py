"""EuclideanLoss: L = sum (a - b)^2 / 2N."""

from __future__ import annotations

import numpy as np

from .base import Blobs
from .loss import LossLayer
from .registry import register


@register("EuclideanLoss")
class EuclideanLoss(LossLayer):
    """Half the squared L2 distance per item, L = sum (a - b)^2 / 2N; both inputs get a gradient."""

    def allow_force_backward(self, bottom_index: int) -> bool:
        return True

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        super().reshape(bottom, top)
        if bottom[0].count != bottom[1].count:
            raise self.error(f"the inputs differ in size: {list(bottom[0].shape)} and "
                             f"{list(bottom[1].shape)}")

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        self.num = bottom[0].shape[0]
        self.diff = bottom[0].data.reshape(-1) - bottom[1].data.reshape(-1)
        top[0].data = np.dot(self.diff, self.diff) / self.num / 2

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        """dL/da = (a - b) * w / N, dL/db = -(a - b) * w / N (w: the loss weight in top[0].diff)."""
        weight = float(top[0].diff) / self.num
        for i, sign in ((0, 1.0), (1, -1.0)):
            if propagate_down[i]:
                np.multiply(self.diff, sign * weight, out=bottom[i].diff.reshape(-1))
