"""PReLU: y = max(x, 0) + a_c min(x, 0) with a learnable slope a per channel (or one shared)."""

from __future__ import annotations

import numpy as np

from ..proto import pb
from .base import Blobs
from .neuron import NeuronLayer
from .registry import register


@register("PReLU")
class PReLU(NeuronLayer):
    """Parametric ReLU, y = max(x, 0) + a * min(x, 0), slope a learned per channel (axis 1) or shared.

    da_c = sum over all but axis 1 of dy * min(x, 0); dx = dy * (1 if x > 0 else a_c).
    """

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.prelu_param
        if bottom[0].num_axes < 2:
            raise self.error(f"PReLU needs 2 or more input axes (N, C, ...), got {list(bottom[0].shape)}")
        self.shared = p.channel_shared
        filler = p.filler if p.HasField("filler") else pb.FillerParameter(type="constant", value=0.25)
        self.blobs = [self.make_param((1,) if self.shared else (bottom[0].shape[1],), filler)]

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        expected = 1 if self.shared else bottom[0].shape[1]
        if self.blobs[0].count != expected:
            raise self.error(f"{self.blobs[0].count} slopes for an input of shape {list(bottom[0].shape)}",
                             hint="channel_shared needs 1 slope, otherwise one per channel (axis 1)")
        super().reshape(bottom, top)

    def _factor(self, x: np.ndarray) -> np.ndarray:
        """1 where x > 0, else the slope of the element's channel."""
        a = self.blobs[0].data
        slope = a if self.shared else a.reshape(a.shape + (1,) * (x.ndim - 2))
        return np.where(x > 0, 1, slope).astype(x.dtype, copy=False)

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        x = self.keep_input(bottom, top)
        np.multiply(x, self._factor(x), out=top[0].data)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        x = self.kept_input(top, bottom)
        dy = top[0].diff
        summed = None if self.shared else (0, *range(2, x.ndim))
        self.blobs[0].diff += np.reshape((dy * np.minimum(x, 0)).sum(axis=summed), self.blobs[0].shape)
        if propagate_down[0]:
            np.multiply(dy, self._factor(x), out=bottom[0].diff)
