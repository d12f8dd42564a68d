"""Shared base of element-wise layers: one bottom, one top of the same shape, in place allowed."""

from __future__ import annotations

import math

import numpy as np

from .base import Blobs, Layer


class NeuronLayer(Layer):
    """y = f(x) element-wise. Subclasses define `forward` and `backward`; top may be the bottom (in place)."""

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        if top[0] is not bottom[0]:
            top[0].reshape(bottom[0].shape)

    def keep_input(self, bottom: Blobs, top: Blobs) -> np.ndarray:
        """x, for a forward whose backward needs it: in place, a copy is kept before the top overwrites it."""
        x = bottom[0].data
        if top[0] is bottom[0]:
            kept = getattr(self, "_kept_input", None)
            if kept is None or kept.shape != x.shape:
                kept = self._kept_input = np.empty_like(x)
            np.copyto(kept, x)
        return x

    def kept_input(self, top: Blobs, bottom: Blobs) -> np.ndarray:
        """In backward: the x that `keep_input` saw in forward."""
        return self._kept_input if top[0] is bottom[0] else bottom[0].data


def sigmoid(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """1 / (1 + exp(-x)), computed as (1 + tanh(x / 2)) / 2 so it never overflows."""
    out = np.multiply(x, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def ln_base(layer: Layer, base: float) -> float:
    """ln(base) of the Exp and Log layers, where base -1 stands for e."""
    if base == -1:
        return 1.0
    if base <= 0:
        raise layer.error(f"base must be positive (or -1 for e), got {base:g}")
    return math.log(base)
