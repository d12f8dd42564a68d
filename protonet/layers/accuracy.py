"""Accuracy: the fraction of items whose label is among the top_k scores."""

from __future__ import annotations

import numpy as np

from .base import Blobs, Layer
from .loss import check_labels, class_dims, split_ignored
from .registry import register


@register("Accuracy")
class Accuracy(Layer):
    """Top-k classification accuracy (optional second top: accuracy per class); no backward."""

    bottoms = (2, 2)
    tops = (1, 2)
    has_backward = False

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.accuracy_param
        self.top_k = p.top_k
        self.ignore = p.ignore_label if p.HasField("ignore_label") else None

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        self.outer, self.classes, self.inner = class_dims(self, bottom, self.param.accuracy_param.axis)
        if self.top_k > self.classes:
            raise self.error(f"top_k {self.top_k} exceeds the {self.classes} classes")
        top[0].reshape(())
        if len(top) > 1:
            top[1].reshape((self.classes,))

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        scores = np.moveaxis(bottom[0].data.reshape(self.outer, self.classes, self.inner), 1, 2)
        scores = scores.reshape(-1, self.classes)
        labels = check_labels(self, bottom[1].data.reshape(-1), self.classes, self.ignore)
        labels, valid = split_ignored(labels, self.ignore)
        scores, labels = scores[valid], labels[valid]
        true_score = np.take_along_axis(scores, labels[:, None], axis=1)
        # Caffe's rule: correct when fewer than top_k other classes score at least as high as the label
        # (a tie counts against the label, so constant scores are never "correct")
        correct = (scores >= true_score).sum(axis=1) - 1 < self.top_k
        top[0].data = correct.mean() if labels.size else 0.0
        if len(top) > 1:
            per_class = np.zeros(self.classes)
            counts = np.bincount(labels, minlength=self.classes)
            hits = np.bincount(labels[correct], minlength=self.classes)
            np.divide(hits, counts, out=per_class, where=counts > 0)
            top[1].data = per_class

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        """Accuracy has no gradient."""
