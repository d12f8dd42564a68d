"""SoftmaxWithLoss: softmax then multinomial logistic loss, fused for a stable gradient."""

from __future__ import annotations

import numpy as np

from ..ops.softmax import softmax
from .base import Blobs, canonical_axis
from .loss import LossLayer, check_labels
from .registry import register

FLT_MIN = np.finfo(np.float32).tiny


@register("SoftmaxWithLoss")
class SoftmaxWithLoss(LossLayer):
    """Cross-entropy of softmax(x) against integer labels, L = -sum log p[label] / normalizer."""

    tops = (1, 2)

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        lp = self.param.loss_param
        self.ignore = lp.ignore_label if lp.HasField("ignore_label") else None
        self.mode = self.normalization()

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        self.axis = canonical_axis(self.param.softmax_param.axis, bottom[0].num_axes, self.name)
        shape = bottom[0].shape
        self.outer = int(np.prod(shape[:self.axis]))
        self.classes = shape[self.axis]
        self.inner = int(np.prod(shape[self.axis + 1:]))
        if bottom[1].count != self.outer * self.inner:
            raise self.error(f"{bottom[1].count} labels for {self.outer * self.inner} predictions "
                             f"(scores {list(shape)}, labels {list(bottom[1].shape)})",
                             hint="the label count must equal N times the spatial size")
        top[0].reshape(())
        if len(top) > 1:
            top[1].reshape(shape)

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        scores = bottom[0].data.reshape(self.outer, self.classes, self.inner)
        self.prob = softmax(scores, axis=1)
        labels = check_labels(self, bottom[1].data.reshape(self.outer, self.inner), self.classes, self.ignore)
        self.valid = labels != self.ignore if self.ignore is not None else np.ones(labels.shape, bool)
        self.labels = np.where(self.valid, labels, 0)
        picked = np.take_along_axis(self.prob, self.labels[:, None, :], axis=1)[:, 0, :]
        loss = -np.log(np.maximum(picked, FLT_MIN))[self.valid].sum()
        self.norm = self.normalizer(self.mode, self.outer, self.inner, int(self.valid.sum()))
        top[0].data = loss / self.norm
        if len(top) > 1:
            top[1].data = self.prob.reshape(top[1].shape)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        if propagate_down[1]:
            raise self.error("cannot back-propagate to the labels", hint="set propagate_down: [true, false]")
        if not propagate_down[0]:
            return
        grad = bottom[0].diff.reshape(self.outer, self.classes, self.inner)
        np.copyto(grad, self.prob)
        rows = np.arange(self.outer)[:, None]
        cols = np.arange(self.inner)[None, :]
        grad[rows, self.labels, cols] -= 1
        grad *= self.valid[:, None, :]
        grad *= float(top[0].diff) / self.norm
