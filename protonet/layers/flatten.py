"""Flatten: merges the axes axis..end_axis into one."""

from __future__ import annotations

import numpy as np

from .axis_ops import ReshapingLayer
from .base import canonical_axis
from .registry import register


@register("Flatten")
class Flatten(ReshapingLayer):
    """Merges axes axis..end_axis (inclusive) into one: (N, C, H, W) -> (N, C*H*W) by default."""

    def top_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        p = self.param.flatten_param
        start = canonical_axis(p.axis, len(shape), self.name)
        end = canonical_axis(p.end_axis, len(shape), self.name)
        if end < start:
            raise self.error(f"end_axis {p.end_axis} is before axis {p.axis} for a {len(shape)}-axis input")
        return shape[:start] + (int(np.prod(shape[start:end + 1])),) + shape[end + 1:]
