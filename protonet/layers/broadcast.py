"""The axis broadcast of Scale and Bias: an operand shaped like bottom.shape[axis:axis + k] is applied
along those axes and repeated over the others.

The bottom is viewed as (outer, dim, inner) and the operand as (1, dim, 1), with
outer = prod(shape[:axis]), dim = operand.count, inner = prod(shape[axis + k:]).
"""

from __future__ import annotations

import numpy as np

from ..blob import Blob
from .base import Layer, canonical_axis


def learned_shape(layer: Layer, shape: tuple[int, ...], axis: int, num_axes: int) -> tuple[int, ...]:
    """The shape of a learnable operand: shape[axis:axis + num_axes], or shape[axis:] when num_axes is -1."""
    axis = canonical_axis(axis, len(shape), layer.name)
    if num_axes < -1:
        raise layer.error(f"num_axes {num_axes} is invalid",
                          hint="use a non-negative count, or -1 for all the rest")
    if num_axes >= 0 and axis + num_axes > len(shape):
        raise layer.error(f"axis {axis} and num_axes {num_axes} extend past the {len(shape)}-axis input "
                          f"{list(shape)}")
    return tuple(shape[axis:] if num_axes == -1 else shape[axis:axis + num_axes])


class AxisBroadcast:
    """bottom (outer, dim, inner) against operand (1, dim, 1); a scalar operand applies at axis 0."""

    def __init__(self, layer: Layer, shape: tuple[int, ...], axis: int, operand: tuple[int, ...]) -> None:
        axis = canonical_axis(axis, len(shape), layer.name) if operand else 0
        if tuple(shape[axis:axis + len(operand)]) != tuple(operand):
            raise layer.error(f"operand of shape {list(operand)} does not match input {list(shape)} "
                              f"from axis {axis}", hint="its shape must equal the input's axes from axis on")
        end = axis + len(operand)
        self.dims = (int(np.prod(shape[:axis])), int(np.prod(operand)), int(np.prod(shape[end:])))

    def view(self, x: np.ndarray) -> np.ndarray:
        """x (of the bottom's size) as (outer, dim, inner)."""
        return x.reshape(self.dims)

    def operand(self, x: np.ndarray) -> np.ndarray:
        """The operand as (1, dim, 1), ready to broadcast against `view`."""
        return x.reshape(1, -1, 1)

    def reduce(self, x: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        """sum over outer and inner of x (or of x * y): the operand's gradient, as (dim,)."""
        if y is None:
            return self.view(x).sum(axis=(0, 2))
        return np.einsum("odi,odi->d", self.view(x), self.view(y))


def write_grad(blob: Blob, grad: np.ndarray, learned: bool) -> None:
    """Store an operand's gradient: a learned parameter accumulates (+=), a bottom is overwritten."""
    if learned:
        blob.diff += grad.reshape(blob.shape)
    else:
        blob.diff = grad.reshape(blob.shape)
