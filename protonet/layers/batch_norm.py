"""BatchNorm: y = (x - mean) / sqrt(var + eps) per channel, with Caffe's stored running statistics."""

from __future__ import annotations

import numpy as np

from ..blob import Blob
from .base import Blobs, Layer
from .registry import register


@register("BatchNorm")
class BatchNorm(Layer):
    """Normalises each channel to zero mean, unit variance: batch statistics in TRAIN, stored ones in TEST.

    Blobs (as Caffe stores them, never learned): [sum of means, sum of variances, factor f], where
    the running statistics are the sums divided by f (0 when f = 0). Each TRAIN forward does
    f = maf * f + 1, mean_sum = maf * mean_sum + batch_mean,
    var_sum = maf * var_sum + m / (m - 1) * batch_var (m = values per channel, unbiased).
    `use_global_stats` defaults to true in TEST. Statistics run over every axis but axis 1.
    """

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.batch_norm_param
        self.global_stats = p.use_global_stats if p.HasField("use_global_stats") else not self.ctx.training
        self.maf = p.moving_average_fraction
        self.eps = p.eps
        self.channels = self._channels(bottom[0].shape)
        dtype = self.ctx.dtype
        self.blobs = [Blob((self.channels,), dtype), Blob((self.channels,), dtype), Blob((1,), dtype)]
        self.x_norm: np.ndarray | None = None

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        shape = bottom[0].shape
        channels = self._channels(shape)
        if channels != self.channels:
            raise self.error(f"input {list(shape)} has {channels} channels, the layer was set up for "
                             f"{self.channels}")
        if top[0] is not bottom[0]:
            top[0].reshape(shape)
        if self.x_norm is None or self.x_norm.shape != shape:
            self.x_norm = np.empty(shape, bottom[0].dtype)

    def _channels(self, shape: tuple[int, ...]) -> int:
        """Axis 1 holds the channels (a 1-axis input is one channel)."""
        if not shape:
            raise self.error("BatchNorm needs an input with at least one axis, got a scalar")
        return 1 if len(shape) == 1 else shape[1]

    def _view(self, x: np.ndarray) -> np.ndarray:
        """x as (N, C, spatial)."""
        return x.reshape(x.shape[0], self.channels, -1)

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        x = self._view(bottom[0].data)
        if self.global_stats:
            factor = self.blobs[2].data[0]
            scale = 0 if factor == 0 else 1 / factor
            mean, var = self.blobs[0].data * scale, self.blobs[1].data * scale
        else:
            mean = x.mean(axis=(0, 2))
            var = np.square(x - mean[:, None]).mean(axis=(0, 2))
            m = x.size // self.channels
            self.blobs[2].data = self.blobs[2].data * self.maf + 1
            self.blobs[0].data = self.maf * self.blobs[0].data + mean
            self.blobs[1].data = self.maf * self.blobs[1].data + (m / (m - 1) if m > 1 else 1) * var
        self.inv_std = (1 / np.sqrt(var + self.eps)).astype(x.dtype)[:, None]
        y = self._view(self.x_norm)
        np.subtract(x, mean.astype(x.dtype)[:, None], out=y)
        y *= self.inv_std
        np.copyto(top[0].data, self.x_norm)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        """dx = (dy - mean(dy) - mean(dy * y) * y) / sqrt(var + eps), means per channel (batch statistics);
        dx = dy / sqrt(var + eps) with global statistics."""
        if not propagate_down[0]:
            return
        dy = self._view(top[0].diff)
        dx = self._view(bottom[0].diff)
        if self.global_stats:
            np.multiply(dy, self.inv_std, out=dx)
            return
        y = self._view(self.x_norm)
        mean_dy = dy.mean(axis=(0, 2), keepdims=True)
        mean_dy_y = np.einsum("ncs,ncs->c", dy, y)[:, None] / (dy.size // self.channels)
        grad = dy - mean_dy - mean_dy_y * y
        np.multiply(grad, self.inv_std, out=dx)
