"""Bias: y = x + b, with b broadcast along axes axis..axis+num_axes-1 (learned, or bottom[1])."""

from __future__ import annotations

import numpy as np

from ..blob import Blob
from .base import Blobs, Layer
from .broadcast import AxisBroadcast, learned_shape, write_grad
from .registry import register


@register("Bias")
class Bias(Layer):
    """Adds a bias broadcast over the other axes, y = x + b; b is a learned parameter or a second input."""

    bottoms = (1, 2)

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.bias_param
        if len(bottom) == 1:
            shape = learned_shape(self, bottom[0].shape, p.axis, p.num_axes)
            self.blobs = [self.make_param(shape, p.filler if p.HasField("filler") else None)]

    def _bias(self, bottom: Blobs) -> Blob:
        """Looked up each time: the net may swap in a shared parameter blob after setup."""
        return bottom[1] if len(bottom) > 1 else self.blobs[0]

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        self.cast = AxisBroadcast(self, bottom[0].shape, self.param.bias_param.axis, self._bias(bottom).shape)
        if top[0] is not bottom[0]:
            top[0].reshape(bottom[0].shape)

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        cast = self.cast
        np.add(cast.view(bottom[0].data), cast.operand(self._bias(bottom).data), out=cast.view(top[0].data))

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        """db = sum of dy over the broadcast axes; dx = dy."""
        learned = len(bottom) == 1
        if learned or propagate_down[1]:
            write_grad(self._bias(bottom), self.cast.reduce(top[0].diff), learned)
        if propagate_down[0] and top[0] is not bottom[0]:
            np.copyto(bottom[0].diff, top[0].diff)
