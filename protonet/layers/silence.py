"""Silence: consumes blobs nobody else uses, so they are not reported as outputs."""

from __future__ import annotations

from .base import Blobs, Layer
from .registry import register


@register("Silence")
class Silence(Layer):
    """Swallows its bottoms (no tops); their gradient is 0."""

    bottoms = (1, None)
    tops = (0, 0)

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        """Nothing to shape."""

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        """Nothing to compute."""

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        for blob, needed in zip(bottom, propagate_down, strict=True):
            if needed:
                blob.diff.fill(0)
