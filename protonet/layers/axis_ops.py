"""Helpers of the layers that cut, join or reshape blobs along an axis (Concat, Slice, Crop, ...)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np

from .base import Blobs, Layer, canonical_axis


def refuse_in_place(layer: Layer, bottom: Blobs, top: Blobs) -> None:
    """A ConfigError when a top is also a bottom (the layer's output has another shape or layout)."""
    if any(t is b for t in top for b in bottom):
        raise layer.error(f"{layer.type} cannot compute in place", hint="give the top a name of its own")


def legacy_axis(layer: Layer, param: object, legacy: str, num_axes: int) -> int:
    """The axis of Concat/Slice: `axis` (may count from the end) or the legacy non-negative field `legacy`."""
    if param.HasField(legacy):
        if param.HasField("axis"):
            raise layer.error(f"both axis and {legacy} are set", hint=f"keep only axis ({legacy} is legacy)")
        value = getattr(param, legacy)
        if value >= num_axes:
            raise layer.error(f"{legacy} {value} is out of range for a {num_axes}-axis input")
        return value
    return canonical_axis(param.axis, num_axes, layer.name)


def pieces(x: np.ndarray, axis: int, sizes: Sequence[int]) -> list[np.ndarray]:
    """Views of consecutive pieces of `x` along `axis`, of the given sizes."""
    bounds = np.cumsum([0, *sizes])
    return [x[(slice(None),) * axis + (slice(a, b),)] for a, b in pairwise(bounds)]


class ReshapingLayer(Layer):
    """Base of Flatten and Reshape: the top holds the bottom's values, in order, in another shape.

    The top is a copy (not a view), so in-place layers after it cannot disturb the bottom.
    """

    def top_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        raise NotImplementedError

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        refuse_in_place(self, bottom, top)

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        shape = self.top_shape(bottom[0].shape)
        if int(np.prod(shape)) != bottom[0].count:
            raise self.error(f"cannot reshape {list(bottom[0].shape)} ({bottom[0].count} values) "
                             f"to {list(shape)}")
        top[0].reshape(shape)

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        np.copyto(top[0].data, bottom[0].data.reshape(top[0].shape))

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        if propagate_down[0]:
            np.copyto(bottom[0].diff, top[0].diff.reshape(bottom[0].shape))
