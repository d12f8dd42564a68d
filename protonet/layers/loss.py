"""Shared parts of loss layers: the loss normalisation and label checks."""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from ..proto import pb
from .base import Blobs, Layer

Norm = pb.LossParameter.NormalizationMode


class LossLayer(Layer):
    """A layer whose first top is a scalar loss, weighted 1 by default; labels get no gradient."""

    bottoms = (2, 2)
    tops = (1, 1)
    is_loss = True

    def allow_force_backward(self, bottom_index: int) -> bool:
        return bottom_index != 1

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        if bottom[0].shape[0] != bottom[1].shape[0]:
            raise self.error(f"the inputs disagree on the batch size: {list(bottom[0].shape)} and "
                             f"{list(bottom[1].shape)}")
        top[0].reshape(())

    def normalization(self) -> int:
        """The normalisation mode, with Caffe's legacy `normalize: false` meaning BATCH_SIZE."""
        lp = self.param.loss_param
        if not lp.HasField("normalization") and lp.HasField("normalize"):
            return Norm.VALID if lp.normalize else Norm.BATCH_SIZE
        return lp.normalization

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
        raise DataError(f"label {as_int[bad].flat[0]} is outside 0..{num_classes - 1} ({num_classes} classes)",
                        layer=layer.name, hint="labels must be 0-based class indices")
    return as_int
