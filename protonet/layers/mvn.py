"""MVN: mean-variance normalisation per item and channel (or per item across channels)."""

from __future__ import annotations

import numpy as np

from .base import Blobs, Layer
from .registry import register


@register("MVN")
class MVN(Layer):
    """Subtracts the mean and (normalize_variance) divides by the standard deviation plus eps.

    Groups: each (n, c) over the remaining axes, or each n with across_channels. Caffe's formulas
    (mvn_layer.cpp): y = (x - mean) / (sqrt(mean((x - mean)^2)) + eps), and the backward
    dx = (dy - mean(dy) - y * mean(dy * y)) / (std + eps), or dx = dy - mean(dy) without variance.
    """

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.mvn_param
        self.normalize_variance, self.across, self.eps = p.normalize_variance, p.across_channels, p.eps

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        shape = bottom[0].shape
        if len(shape) < (1 if self.across else 2):
            raise self.error(f"MVN needs an (N, C, ...) input, got {list(shape)}")
        self.groups = shape[0] if self.across else shape[0] * shape[1]
        top[0].reshape(shape)

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        x = bottom[0].data.reshape(self.groups, -1)
        y = top[0].data.reshape(self.groups, -1)
        np.subtract(x, x.mean(axis=1, keepdims=True), out=y)
        if self.normalize_variance:
            self.std = np.sqrt(np.square(y).mean(axis=1, keepdims=True)) + np.asarray(self.eps, y.dtype)
            y /= self.std

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        if not propagate_down[0]:
            return
        dy = top[0].diff.reshape(self.groups, -1)
        dx = bottom[0].diff.reshape(self.groups, -1)  # may be dy itself (in place)
        y = top[0].data.reshape(self.groups, -1)
        mean_dy_y = (dy * y).mean(axis=1, keepdims=True) if self.normalize_variance else None
        np.subtract(dy, dy.mean(axis=1, keepdims=True), out=dx)
        if self.normalize_variance:
            dx -= y * mean_dy_y
            dx /= self.std
