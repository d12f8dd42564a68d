"""Crop: cuts bottom 0 down to the shape of bottom 1 on the axes from `axis` on, at given offsets."""

from __future__ import annotations

import numpy as np

from .axis_ops import refuse_in_place
from .base import Blobs, Layer, canonical_axis
from .registry import register


@register("Crop")
class Crop(Layer):
    """Crops bottom 0 to bottom 1's size on axes >= axis, from `offset` (one for all, or one per axis)."""

    bottoms = (2, 2)

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        refuse_in_place(self, bottom, top)

    def allow_force_backward(self, bottom_index: int) -> bool:
        return bottom_index == 0

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.crop_param
        big, small = bottom[0].shape, bottom[1].shape
        if len(big) != len(small):
            raise self.error(f"bottom 0 {list(big)} and bottom 1 {list(small)} differ in number of axes")
        axis = canonical_axis(p.axis, len(big), self.name)
        cropped = len(big) - axis
        if len(p.offset) not in (0, 1, cropped):
            raise self.error(f"{len(p.offset)} offsets for the {cropped} axes from axis {axis}",
                             hint="give one offset for all of them, or one per axis")
        tail = list(p.offset) if len(p.offset) > 1 else [p.offset[0] if p.offset else 0] * cropped
        offsets = [0] * axis + tail
        sizes = big[:axis] + small[axis:]
        for i in range(axis, len(big)):
            if offsets[i] + sizes[i] > big[i]:
                raise self.error(f"cropping {sizes[i]} values at offset {offsets[i]} on axis {i} overruns "
                                 f"bottom 0 {list(big)}")
        self.region = tuple(slice(o, o + n) for o, n in zip(offsets, sizes, strict=True))
        top[0].reshape(sizes)

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        np.copyto(top[0].data, bottom[0].data[self.region])

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        """dx = dy inside the cropped region and 0 outside; bottom 1 only gives a shape, its gradient is 0."""
        for blob, needed in zip(bottom, propagate_down, strict=True):
            if needed:
                blob.diff.fill(0)
        if propagate_down[0]:
            bottom[0].diff[self.region] = top[0].diff
