"""SoftmaxWithLoss: softmax then multinomial logistic loss, fused for a stable gradient."""

from __future__ import annotations

import numpy as np

from ..ops.softmax import softmax
from .base import Blobs
from .loss import LossLayer, check_labels, class_dims, split_ignored
from .registry import register

FLT_MIN = np.finfo(np.float32).tiny


@register("SoftmaxWithLoss")
class SoftmaxWithLoss(LossLayer):
    """Cross-entropy of softmax(x) against integer labels, L = -sum log p[label] / normalizer."""

    tops = (1, 2)

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        self.ignore = self.ignore_label()
        self.mode = self.normalization()

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        self.outer, self.classes, self.inner = class_dims(self, bottom, self.param.softmax_param.axis)
        top[0].reshape(())
        if len(top) > 1:
            top[1].reshape(bottom[0].shape)

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        scores = bottom[0].data.reshape(self.outer, self.classes, self.inner)
        self.prob = softmax(scores, axis=1)
        labels = check_labels(self, bottom[1].data.reshape(self.outer, self.inner), self.classes, self.ignore)
        self.labels, self.valid = split_ignored(labels, self.ignore)
        picked = np.take_along_axis(self.prob, self.labels[:, None, :], axis=1)[:, 0, :]
        loss = -np.log(np.maximum(picked, FLT_MIN))[self.valid].sum()
        self.write_softmax_loss(top, loss, self.prob, self.valid)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        """dx = (p - onehot(label)) * valid * w / normalizer; top 1 (p) sends no gradient, as in Caffe."""
        self.refuse_gradient(propagate_down, 1)
        if not propagate_down[0]:
            return
        grad = bottom[0].diff.reshape(self.outer, self.classes, self.inner)
        np.copyto(grad, self.prob)
        rows = np.arange(self.outer)[:, None]
        cols = np.arange(self.inner)[None, :]
        grad[rows, self.labels, cols] -= 1
        grad *= self.valid[:, None, :]
        grad *= float(top[0].diff) / self.norm
