"""InfogainLoss: softmax, then the log-probabilities weighted by row `label` of an infogain matrix H."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from google.protobuf.message import DecodeError

from ..errors import DataError
from ..io import read_regular
from ..ops.softmax import softmax
from ..proto import pb
from ..weights import blobproto_to_array
from .base import Blobs
from .loss import LOG_THRESHOLD, LossLayer, check_labels, class_dims, split_ignored
from .registry import register


@register("InfogainLoss")
class InfogainLoss(LossLayer):
    """L = -sum_i sum_k H[label_i, k] log(max(p_ik, 1e-20)) / normalizer, p = softmax(x) along `axis`.

    H (K x K) comes from bottom[2] or infogain_loss_param.source (a .binaryproto, relative paths from
    the net's directory). With H = I this is SoftmaxWithLoss. Optional second top: p. Gradient (Caffe's):
    dx_ik = (p_ik * sum_j H[label_i, j] - H[label_i, k]) * w / normalizer; ignored labels give 0.
    """

    bottoms = (2, 3)
    tops = (1, 2)

    def allow_force_backward(self, bottom_index: int) -> bool:
        return bottom_index == 0

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        self.ignore = self.ignore_label()
        self.mode = self.normalization()
        self.stored = None if len(bottom) > 2 else self._read_matrix()

    def _read_matrix(self) -> np.ndarray:
        source = self.param.infogain_loss_param.source
        if not source:
            raise self.error("the infogain matrix H is missing",
                             hint="set infogain_loss_param.source to a .binaryproto, or give H as bottom 2")
        path = Path(source) if Path(source).is_absolute() else self.ctx.base_dir / source
        try:
            blob = pb.BlobProto.FromString(read_regular(path))
        except FileNotFoundError:
            raise DataError("infogain matrix file not found", file=str(path), layer=self.name) from None
        except OSError as exc:
            raise DataError(f"cannot read the infogain matrix: {exc.strerror}", file=str(path),
                            layer=self.name) from None
        except (DecodeError, RuntimeError, ValueError) as exc:
            raise DataError(f"not a valid .binaryproto ({exc})", file=str(path), layer=self.name) from None
        return blobproto_to_array(blob, file=str(path), layer=self.name)

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        self.outer, self.classes, self.inner = class_dims(self, bottom, self.param.infogain_loss_param.axis)
        h = self._matrix(bottom)
        if h.size != self.classes**2:
            raise self.error(f"the infogain matrix has {h.size} values ({list(h.shape)}), "
                             f"{self.classes} classes need {self.classes}x{self.classes}")
        top[0].reshape(())
        if len(top) > 1:
            top[1].reshape(bottom[0].shape)

    def _matrix(self, bottom: Blobs) -> np.ndarray:
        h = bottom[2].data if len(bottom) > 2 else self.stored
        return h.reshape(-1)

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        self.prob = softmax(bottom[0].data.reshape(self.outer, self.classes, self.inner), axis=1)
        labels = check_labels(self, bottom[1].data.reshape(self.outer, self.inner), self.classes, self.ignore)
        self.labels, self.valid = split_ignored(labels, self.ignore)
        h = self._matrix(bottom).reshape(self.classes, self.classes).astype(self.prob.dtype, copy=False)
        # H[label] as (outer, K, inner), zero for the ignored items
        self.rows = np.moveaxis(h[self.labels], 2, 1) * self.valid[:, None, :]
        loss = -(self.rows * np.log(np.maximum(self.prob, LOG_THRESHOLD))).sum()
        self.write_softmax_loss(top, loss, self.prob, self.valid)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        self.refuse_gradient(propagate_down, 1)
        self.refuse_gradient(propagate_down, 2, "the infogain matrix")
        if not propagate_down[0]:
            return
        dx = bottom[0].diff.reshape(self.outer, self.classes, self.inner)
        np.multiply(self.prob, self.rows.sum(axis=1, keepdims=True), out=dx)
        dx -= self.rows
        dx *= float(top[0].diff) / self.norm
