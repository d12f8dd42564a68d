"""Tile: repeats the bottom `tiles` times along one axis."""

from __future__ import annotations

import numpy as np

from .axis_ops import refuse_in_place
from .base import Blobs, Layer, canonical_axis
from .registry import register


@register("Tile")
class Tile(Layer):
    """Repeats the block of axes from `axis` on `tiles` times ([a b] -> [a b a b]); dx sums dy over copies."""

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        refuse_in_place(self, bottom, top)
        self.tiles = self.param.tile_param.tiles
        if self.tiles < 1:
            raise self.error(f"tile_param.tiles must be at least 1, got {self.tiles}")

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        shape = bottom[0].shape
        self.axis = canonical_axis(self.param.tile_param.axis, len(shape), self.name)
        self.outer = int(np.prod(shape[:self.axis]))
        top[0].reshape(shape[:self.axis] + (shape[self.axis] * self.tiles,) + shape[self.axis + 1:])

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        y = top[0].data.reshape(self.outer, self.tiles, -1)
        y[...] = bottom[0].data.reshape(self.outer, 1, -1)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        if propagate_down[0]:
            dy = top[0].diff.reshape(self.outer, self.tiles, -1)
            dy.sum(axis=1, out=bottom[0].diff.reshape(self.outer, -1))
