"""Shared parts of loss layers: the loss normalisation, label checks and the (outer, classes, inner) split."""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from ..proto import pb
from .base import Blobs, Layer, canonical_axis

Norm = pb.LossParameter.NormalizationMode
LOG_THRESHOLD = 1e-20  # Caffe's kLOG_THRESHOLD: probabilities are clipped to it before the log


class LossLayer(Layer):
    """A layer whose first top is a scalar loss, weighted 1 by default; labels get no gradient.

    The net writes the loss weight into `top[0].diff` before backward, so every gradient is
    scaled by `float(top[0].diff)`.
    """

    bottoms = (2, 2)
    tops = (1, 1)
    is_loss = True

    def allow_force_backward(self, bottom_index: int) -> bool:
        return bottom_index != 1

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        if bottom[0].shape[:1] != bottom[1].shape[:1]:
            raise self.error(f"the inputs disagree on the batch size: {list(bottom[0].shape)} and "
                             f"{list(bottom[1].shape)}")
        top[0].reshape(())

    def normalization(self, default: int = Norm.VALID) -> int:
        """The normalisation mode: `normalization` if set, else the legacy `normalize` (false means
        BATCH_SIZE, true VALID), else `default` (VALID for most layers, as the proto says)."""
        lp = self.param.loss_param
        if lp.HasField("normalization"):
            return lp.normalization
        if lp.HasField("normalize"):
            return Norm.VALID if lp.normalize else Norm.BATCH_SIZE
        return default

    def ignore_label(self) -> int | None:
        lp = self.param.loss_param
        return lp.ignore_label if lp.HasField("ignore_label") else None

    def normalizer(self, mode: int, outer: int, inner: int, valid: int) -> float:
        """Caffe's get_normalizer: the divisor of the summed loss, at least 1."""
        if mode == Norm.FULL:
            value = outer * inner
        elif mode == Norm.VALID:
            value = valid
        elif mode == Norm.BATCH_SIZE:
            value = outer
        else:
            value = 1
        return max(float(value), 1.0)

    def write_softmax_loss(self, top: Blobs, loss: float, prob: np.ndarray, valid: np.ndarray) -> None:
        """top 0 = loss / normalizer (kept as self.norm for backward) over the valid items; top 1, when
        asked for, the softmax probabilities (the softmax losses' shared tail)."""
        self.norm = self.normalizer(self.mode, self.outer, self.inner, int(valid.sum()))
        top[0].data = loss / self.norm
        if len(top) > 1:
            top[1].data = prob.reshape(top[1].shape)

    def refuse_gradient(self, propagate_down: list[bool], index: int, what: str = "the labels") -> None:
        """A ConfigError when back-propagation to bottom `index` is requested (labels, similarity, H...)."""
        if index < len(propagate_down) and propagate_down[index]:
            flags = ", ".join("true" if i != index else "false" for i in range(len(propagate_down)))
            raise self.error(f"cannot back-propagate to {what} (bottom {index})",
                             hint=f"set propagate_down: [{flags}]")


class ItemLossLayer(LossLayer):
    """A loss over (N, K) scores, flattened from axis 1, with one integer label per item."""

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        super().reshape(bottom, top)
        self.num = bottom[0].shape[0]
        self.classes = bottom[0].count // max(self.num, 1)
        if bottom[1].count != self.num:
            raise self.error(f"{bottom[1].count} labels for {self.num} items", hint="one label per item")


def class_dims(layer: Layer, bottom: Blobs, axis: int) -> tuple[int, int, int]:
    """(outer, classes, inner) of the scores bottom[0], classes on `axis`; bottom[1] must hold outer * inner
    labels."""
    shape = bottom[0].shape
    axis = canonical_axis(axis, len(shape), layer.name)
    outer, classes, inner = int(np.prod(shape[:axis])), shape[axis], int(np.prod(shape[axis + 1:]))
    if bottom[1].count != outer * inner:
        raise layer.error(f"{bottom[1].count} labels for {outer * inner} predictions "
                          f"(scores {list(shape)}, labels {list(bottom[1].shape)})",
                          hint="the label count must equal the product of the axes other than the class axis")
    return outer, classes, inner


def check_labels(layer: Layer, labels: np.ndarray, num_classes: int, ignore: int | None) -> np.ndarray:
    """Integer labels in 0..K-1 (or the ignore label); a DataError naming the layer, label and K otherwise."""
    as_int = labels.astype(np.int64)
    if not np.array_equal(as_int, labels):
        bad = labels[as_int != labels].flat[0]
        raise DataError(f"label {bad} is not an integer", layer=layer.name)
    bad = (as_int < 0) | (as_int >= num_classes)
    if ignore is not None:
        bad &= as_int != ignore
    if bad.any():
        raise DataError(f"label {as_int[bad].flat[0]} is outside 0..{num_classes - 1} "
                        f"({num_classes} classes)", layer=layer.name,
                        hint="labels must be 0-based class indices")
    return as_int


def split_ignored(labels: np.ndarray, ignore: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(labels with the ignored ones replaced by 0, so they can index; the mask of the valid ones)."""
    if ignore is None:
        return labels, np.ones(labels.shape, bool)
    valid = labels != ignore
    return np.where(valid, labels, 0), valid
