"""Reshape: gives the bottom's values a new shape (0 = copy that axis, -1 = infer it)."""

from __future__ import annotations

import numpy as np

from .axis_ops import ReshapingLayer
from .base import Blobs
from .registry import register


@register("Reshape")
class Reshape(ReshapingLayer):
    """Replaces axes [axis, axis + num_axes) of the bottom's shape by `shape` (0 copies, -1 infers a size)."""

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        super().setup(bottom, top)
        dims = list(self.param.reshape_param.shape.dim)
        if any(d < -1 for d in dims) or dims.count(-1) > 1:
            raise self.error(f"shape {dims} may hold positive sizes, 0 (copy) and at most one -1 (infer)")

    def top_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        p = self.param.reshape_param
        n = len(shape)
        start = p.axis if p.axis >= 0 else n + p.axis + 1
        end = n if p.num_axes == -1 else start + p.num_axes
        if not 0 <= start <= end <= n or p.num_axes < -1:
            raise self.error(f"axis {p.axis} and num_axes {p.num_axes} do not fit the input {list(shape)}")
        new = list(p.shape.dim)
        for i, d in enumerate(new):
            if d == 0:
                if start + i >= n:
                    raise self.error(f"shape {new} copies axis {start + i} (0), which the input "
                                     f"{list(shape)} does not have")
                new[i] = shape[start + i]
        if -1 in new:
            known = int(np.prod([d for d in new if d != -1])) * int(np.prod(shape[:start] + shape[end:]))
            if known == 0 or int(np.prod(shape)) % known:
                raise self.error(f"cannot infer the -1 of shape {list(p.shape.dim)} for input {list(shape)}")
            new[new.index(-1)] = int(np.prod(shape)) // known
        return shape[:start] + tuple(new) + shape[end:]
