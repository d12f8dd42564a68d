"""Scale: y = x * s (+ b), with s broadcast along axes axis..axis+num_axes-1 (learned, or bottom[1])."""

from __future__ import annotations

import numpy as np

from ..blob import Blob
from ..proto import pb
from .base import Blobs, Layer
from .broadcast import AxisBroadcast, learned_shape, write_grad
from .registry import register


@register("Scale")
class Scale(Layer):
    """Multiplies by a scale broadcast over the other axes, y = x * s (+ b); s is learned or bottom[1].

    Parameters: [s] + [b] with a learned scale, [b] alone when s is bottom[1]; b has the shape of s.
    s defaults to constant 1, b to constant 0. In place is allowed (x is kept for ds).
    """

    bottoms = (1, 2)

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.scale_param
        if len(bottom) == 1:
            shape = learned_shape(self, bottom[0].shape, p.axis, p.num_axes)
            filler = p.filler if p.HasField("filler") else pb.FillerParameter(type="constant", value=1)
            self.blobs = [self.make_param(shape, filler)]
        if p.bias_term:
            shape = bottom[1].shape if len(bottom) > 1 else self.blobs[0].shape
            self.blobs.append(self.make_param(shape, p.bias_filler if p.HasField("bias_filler") else None))
        self.saved: np.ndarray | None = None

    def _operands(self, bottom: Blobs) -> tuple[Blob, Blob | None]:
        """(s, b or None), looked up each time: the net may swap in shared parameter blobs after setup."""
        scale = bottom[1] if len(bottom) > 1 else self.blobs[0]
        return scale, self.blobs[-1] if self.param.scale_param.bias_term else None

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        scale, bias = self._operands(bottom)
        self.cast = AxisBroadcast(self, bottom[0].shape, self.param.scale_param.axis, scale.shape)
        if bias is not None and bias.shape != scale.shape:
            raise self.error(f"the bias has shape {list(bias.shape)}, the scale {list(scale.shape)}")
        if top[0] is not bottom[0]:
            top[0].reshape(bottom[0].shape)
        elif self.saved is None or self.saved.shape != bottom[0].shape:
            self.saved = np.empty(bottom[0].shape, bottom[0].dtype)

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        cast, (scale, bias) = self.cast, self._operands(bottom)
        if top[0] is bottom[0]:
            np.copyto(self.saved, bottom[0].data)
        y = cast.view(top[0].data)
        np.multiply(cast.view(bottom[0].data), cast.operand(scale.data), out=y)
        if bias is not None:
            y += cast.operand(bias.data)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        """db = sum dy, ds = sum dy * x over the broadcast axes; dx = dy * s."""
        cast, (scale, bias) = self.cast, self._operands(bottom)
        dy = top[0].diff
        learned = len(bottom) == 1
        if bias is not None:
            write_grad(bias, cast.reduce(dy), True)
        if learned or propagate_down[1]:
            x = self.saved if top[0] is bottom[0] else bottom[0].data
            write_grad(scale, cast.reduce(dy, x), learned)
        if propagate_down[0]:
            np.multiply(cast.view(dy), cast.operand(scale.data), out=cast.view(bottom[0].diff))
