"""Concat: joins its bottoms along one axis."""

from __future__ import annotations

import numpy as np

from .axis_ops import legacy_axis, pieces, refuse_in_place
from .base import Blobs, Layer
from .registry import register


@register("Concat")
class Concat(Layer):
    """Joins the bottoms along `axis` (legacy concat_dim); backward hands each bottom its piece of dy."""

    bottoms = (1, None)

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        refuse_in_place(self, bottom, top)

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        first = bottom[0].shape
        self.axis = legacy_axis(self, self.param.concat_param, "concat_dim", len(first))
        rest = first[:self.axis] + first[self.axis + 1:]
        for k, blob in enumerate(bottom[1:], 1):
            s = blob.shape
            if len(s) != len(first) or s[:self.axis] + s[self.axis + 1:] != rest:
                raise self.error(f"bottom {k} has shape {list(s)}, bottom 0 {list(first)}: they must agree "
                                 f"on every axis but the concatenation axis {self.axis}")
        self.sizes = [blob.shape[self.axis] for blob in bottom]
        top[0].reshape(first[:self.axis] + (sum(self.sizes),) + first[self.axis + 1:])

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        np.concatenate([blob.data for blob in bottom], axis=self.axis, out=top[0].data)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        dys = pieces(top[0].diff, self.axis, self.sizes)
        for dy, blob, needed in zip(dys, bottom, propagate_down, strict=True):
            if needed:
                np.copyto(blob.diff, dy)
