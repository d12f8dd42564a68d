"""Split: copies its bottom to every top; backward sums the tops' gradients."""

from __future__ import annotations

import numpy as np

from .base import Blobs, Layer
from .registry import register


@register("Split")
class Split(Layer):
    """Fan-out of one blob to several consumers (inserted automatically); dx = sum of the top diffs."""

    tops = (1, None)

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        for blob in top:
            blob.reshape(bottom[0].shape)

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        for blob in top:
            np.copyto(blob.data, bottom[0].data)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        if not propagate_down[0]:
            return
        np.copyto(bottom[0].diff, top[0].diff)
        for blob in top[1:]:
            bottom[0].diff += blob.diff
