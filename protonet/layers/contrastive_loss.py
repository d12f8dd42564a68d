"""ContrastiveLoss: pulls similar pairs together and pushes dissimilar ones beyond a margin."""

from __future__ import annotations

import numpy as np

from .base import Blobs
from .loss import LossLayer, check_labels
from .registry import register

STABILITY = 1e-4  # Caffe adds it to the distance in the dissimilar gradient


@register("ContrastiveLoss")
class ContrastiveLoss(LossLayer):
    """L = sum_n [y d^2 + (1 - y) max(margin - d, 0)^2] / 2N, d = ||a_n - b_n||, y = 1 for a similar pair.

    Bottoms: a, b (N, D...) and y (N values, 0 or 1). legacy_version uses max(margin - d^2, 0) for
    dissimilar pairs. The dissimilar gradient is Caffe's, -(margin - d) / (d + 1e-4) * (a - b) * w / N.
    """

    bottoms = (3, 3)

    def allow_force_backward(self, bottom_index: int) -> bool:
        return bottom_index != 2

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.contrastive_loss_param
        self.margin, self.legacy = p.margin, p.legacy_version

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        super().reshape(bottom, top)
        if bottom[0].shape != bottom[1].shape:
            raise self.error(f"the pair inputs differ in shape: {list(bottom[0].shape)} and "
                             f"{list(bottom[1].shape)}")
        self.num = bottom[0].shape[0]
        if bottom[2].count != self.num:
            raise self.error(f"{bottom[2].count} similarity labels for {self.num} pairs",
                             hint="one label per pair")

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        self.diff = bottom[0].data.reshape(self.num, -1) - bottom[1].data.reshape(self.num, -1)
        self.dist_sq = np.einsum("nd,nd->n", self.diff, self.diff)
        self.similar = check_labels(self, bottom[2].data.reshape(-1), 2, None).astype(bool)
        if self.legacy:
            self.gap = self.margin - self.dist_sq
            apart = np.maximum(self.gap, 0)
        else:
            self.dist = np.sqrt(self.dist_sq)
            self.gap = self.margin - self.dist
            apart = np.square(np.maximum(self.gap, 0))
        top[0].data = np.where(self.similar, self.dist_sq, apart).sum() / self.num / 2

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        self.refuse_gradient(propagate_down, 2, "the similarity labels")
        pull = np.where(self.gap > 0, -1.0 if self.legacy else -self.gap / (self.dist + STABILITY), 0.0)
        coeff = np.where(self.similar, 1.0, pull).astype(self.diff.dtype)[:, None]
        weight = float(top[0].diff) / self.num
        for i, sign in ((0, 1.0), (1, -1.0)):
            if propagate_down[i]:
                np.multiply(self.diff, coeff * (sign * weight), out=bottom[i].diff.reshape(self.num, -1))
