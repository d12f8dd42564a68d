"""SigmoidCrossEntropyLoss: binary cross-entropy of sigmoid(x) against targets in [0, 1], computed stably."""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .base import Blobs
from .loss import LossLayer, Norm
from .registry import register


@register("SigmoidCrossEntropyLoss")
class SigmoidCrossEntropyLoss(LossLayer):
    """Cross-entropy of sigmoid(x) and targets t, L = sum max(x, 0) - x t + log(1 + exp(-|x|)) / normalizer.

    Targets equal to loss_param.ignore_label are skipped. The normalisation defaults to BATCH_SIZE
    here (Caffe's choice for this layer); dx = (sigmoid(x) - t) * w / normalizer.
    """

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        self.ignore = self.ignore_label()
        self.mode = self.normalization(default=Norm.BATCH_SIZE)

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        super().reshape(bottom, top)
        if bottom[0].count != bottom[1].count:
            raise self.error(f"{bottom[1].count} targets for {bottom[0].count} predictions "
                             f"({list(bottom[0].shape)} and {list(bottom[1].shape)})")

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        x = bottom[0].data.reshape(-1)
        t = bottom[1].data.reshape(-1)
        self.valid = t != self.ignore if self.ignore is not None else np.ones(t.shape, bool)
        outside = self.valid & ((t < 0) | (t > 1))
        if outside.any():
            raise DataError(f"target {t[outside][0]} is outside [0, 1]", layer=self.name,
                            hint="targets are probabilities; mark skipped ones with loss_param.ignore_label")
        e = np.exp(-np.abs(x))
        self.prob = np.where(x >= 0, 1, e) / (1 + e)
        loss = np.maximum(x, 0) - x * t + np.log1p(e)
        num = bottom[0].shape[0] if bottom[0].num_axes else 1
        self.norm = self.normalizer(self.mode, num, x.size // max(num, 1), int(self.valid.sum()))
        top[0].data = loss[self.valid].sum() / self.norm

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        self.refuse_gradient(propagate_down, 1, "the targets")
        if not propagate_down[0]:
            return
        dx = bottom[0].diff.reshape(-1)
        np.subtract(self.prob, bottom[1].data.reshape(-1), out=dx)
        dx *= self.valid
        dx *= float(top[0].diff) / self.norm
