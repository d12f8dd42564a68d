"""Softmax along one axis."""

from __future__ import annotations

from ..ops.softmax import softmax, softmax_backward
from .base import Blobs, Layer, canonical_axis
from .registry import register


@register("Softmax")
class Softmax(Layer):
    """y_i = exp(x_i) / sum_j exp(x_j) along `axis` (default 1, the channels); in place allowed."""

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        self.axis = canonical_axis(self.param.softmax_param.axis, bottom[0].num_axes, self.name)
        if top[0] is not bottom[0]:
            top[0].reshape(bottom[0].shape)

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        softmax(bottom[0].data, self.axis, out=top[0].data)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        if propagate_down[0]:
            softmax_backward(top[0].data, top[0].diff, self.axis, out=bottom[0].diff)
