"""Slice: cuts its bottom along one axis into several tops."""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from .axis_ops import legacy_axis, pieces, refuse_in_place
from .base import Blobs, Layer
from .registry import register


@register("Slice")
class Slice(Layer):
    """Cuts the bottom along `axis` (legacy slice_dim) at slice_point, or in equal parts; Concat's inverse."""

    tops = (1, None)

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        refuse_in_place(self, bottom, top)

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.slice_param
        shape = bottom[0].shape
        self.axis = legacy_axis(self, p, "slice_dim", len(shape))
        dim = shape[self.axis]
        points = list(p.slice_point)
        if points:
            if len(points) != len(top) - 1:
                raise self.error(f"{len(points)} slice_point values for {len(top)} tops",
                                 hint="give one fewer slice_point than tops")
            bounds = [0, *points, dim]
            if any(a >= b for a, b in pairwise(bounds)):
                raise self.error(f"slice_point {points} must increase strictly within (0, {dim}) on axis "
                                 f"{self.axis}")
            self.sizes = [b - a for a, b in pairwise(bounds)]
        else:
            if dim % len(top):
                raise self.error(f"{len(top)} tops do not divide axis {self.axis} of size {dim} evenly",
                                 hint="set slice_point")
            self.sizes = [dim // len(top)] * len(top)
        for blob, size in zip(top, self.sizes, strict=True):
            blob.reshape(shape[:self.axis] + (size,) + shape[self.axis + 1:])

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        for piece, blob in zip(pieces(bottom[0].data, self.axis, self.sizes), top, strict=True):
            np.copyto(blob.data, piece)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        if propagate_down[0]:
            np.concatenate([blob.diff for blob in top], axis=self.axis, out=bottom[0].diff)
