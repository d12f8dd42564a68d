"""Parameter: a learnable blob offered as the layer's top."""

from __future__ import annotations

import numpy as np

from .base import Blobs, Layer
from .registry import register


@register("Parameter")
class Parameter(Layer):
    """Outputs a learnable blob of parameter_param.shape (0 until trained or loaded); its gradient is dy."""

    bottoms = (0, 0)

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        shape = tuple(self.param.parameter_param.shape.dim)
        if any(d <= 0 for d in shape):
            raise self.error(f"parameter_param.shape {list(shape)} has a zero or negative dimension")
        self.blobs = [self.make_param(shape, None)]

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        top[0].reshape(self.blobs[0].shape)

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        np.copyto(top[0].data, self.blobs[0].data)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        self.blobs[0].diff += top[0].diff
