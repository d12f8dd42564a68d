"""Shared base of element-wise layers: one bottom, one top of the same shape, in place allowed."""

from __future__ import annotations

from .base import Blobs, Layer


class NeuronLayer(Layer):
    """y = f(x) element-wise. Subclasses define `forward` and `backward`; top may be the bottom (in place)."""

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        if top[0] is not bottom[0]:
            top[0].reshape(bottom[0].shape)
