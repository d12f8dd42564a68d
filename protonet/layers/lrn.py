"""LRN: local response normalisation, y = x * scale^-beta, across channels or within each channel."""

from __future__ import annotations

import numpy as np

from ..proto import pb
from .base import Blobs, Layer
from .registry import register


def window_sum(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """s[i] = sum of x[j] for |j - i| <= size // 2 along `axis`, zero outside (size odd; the window is
    symmetric, so this operator is its own transpose and serves the backward pass too)."""
    pad = size // 2
    widths = [(0, 0)] * x.ndim
    widths[axis] = (pad, pad)
    padded = np.pad(x, widths)
    out = np.zeros_like(x)
    window = [slice(None)] * x.ndim
    for offset in range(size):  # a loop over the window's offsets, not over pixels or channels
        window[axis] = slice(offset, offset + x.shape[axis])
        out += padded[tuple(window)]
    return out


@register("LRN")
class LRN(Layer):
    """Local response normalisation (Caffe's formulas), y = x * scale^-beta.

    ACROSS_CHANNELS: scale = k + alpha / n * sum of x^2 over the n = local_size channels centred on c.
    WITHIN_CHANNEL: scale = 1 + alpha / n^2 * sum of x^2 over the n x n window centred on (h, w), zero
    padded (Caffe builds it from average pooling and Power with shift 1, so k is not used).
    Backward: dx = dy * scale^-beta - 2 alpha beta / size * x * window_sum(dy * y / scale).
    """

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.lrn_param
        if p.local_size % 2 != 1:
            raise self.error(f"local_size must be odd, got {p.local_size}")
        self.size, self.alpha, self.beta = p.local_size, p.alpha, p.beta
        self.across = p.norm_region == pb.LRNParameter.ACROSS_CHANNELS
        self.k = p.k if self.across else 1.0
        self.window = self.size if self.across else self.size**2  # the n the alpha is divided by

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        if bottom[0].num_axes != 4:
            raise self.error(f"LRN needs a 4-axis input (N, C, H, W), got {list(bottom[0].shape)}")
        if top[0] is bottom[0]:
            raise self.error("LRN cannot run in place (its gradient needs the input)",
                             hint="give the top a new name")
        top[0].reshape(bottom[0].shape)

    def _window(self, x: np.ndarray) -> np.ndarray:
        if self.across:
            return window_sum(x, self.size, 1)
        return window_sum(window_sum(x, self.size, 2), self.size, 3)

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        x = bottom[0].data
        self.scale = self._window(np.square(x))
        self.scale *= self.alpha / self.window
        self.scale += self.k
        np.multiply(x, np.power(self.scale, -self.beta), out=top[0].data)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        if not propagate_down[0]:
            return
        x, y, dy = bottom[0].data, top[0].data, top[0].diff
        spread = self._window(dy * y / self.scale)
        spread *= x * (2 * self.alpha * self.beta / self.window)
        np.multiply(dy, np.power(self.scale, -self.beta), out=bottom[0].diff)
        bottom[0].diff -= spread
