"""Embed: looks up row x of a learned (input_dim, num_output) table for every integer index x."""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .base import Blobs, Layer
from .registry import register


@register("Embed")
class Embed(Layer):
    """Lookup table, y[..., :] = W[x[...], :] + b for integer indices x in [0, input_dim); no gradient to x.

    W is (input_dim, num_output); dW[k] sums dy over the positions holding index k.
    """

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.embed_param
        if not p.num_output or not p.input_dim:
            raise self.error("embed_param.num_output and embed_param.input_dim must be set and positive")
        self.blobs = [self.make_param((p.input_dim, p.num_output),
                                      p.weight_filler if p.HasField("weight_filler") else None)]
        if p.bias_term:
            bias_filler = p.bias_filler if p.HasField("bias_filler") else None
            self.blobs.append(self.make_param((p.num_output,), bias_filler))

    def allow_force_backward(self, bottom_index: int) -> bool:
        return False

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        top[0].reshape(bottom[0].shape + (self.blobs[0].shape[1],))

    def _indices(self, x: np.ndarray) -> np.ndarray:
        index = x.astype(np.int64)
        if x.size and ((index != x).any() or index.min() < 0 or index.max() >= self.blobs[0].shape[0]):
            bad = x[(index != x) | (index < 0) | (index >= self.blobs[0].shape[0])].flat[0]
            raise DataError(f"embedding index {bad:g} is not an integer in [0, {self.blobs[0].shape[0]})",
                            layer=self.name, hint="check the input values against embed_param.input_dim")
        return index.reshape(-1)

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        y = top[0].data.reshape(-1, self.blobs[0].shape[1])
        np.take(self.blobs[0].data, self._indices(bottom[0].data), axis=0, out=y)
        if len(self.blobs) > 1:
            y += self.blobs[1].data

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        if propagate_down[0]:
            raise self.error("Embed cannot propagate gradients to its integer indices",
                             hint="set propagate_down: false for its bottom")
        dy = top[0].diff.reshape(-1, self.blobs[0].shape[1])
        np.add.at(self.blobs[0].diff, self._indices(bottom[0].data), dy)
        if len(self.blobs) > 1:
            self.blobs[1].diff += dy.sum(axis=0)
