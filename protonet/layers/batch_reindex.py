"""BatchReindex: picks items (rows along axis 0) of its first bottom by the indices in its second."""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .base import Blobs, Layer
from .registry import register


@register("BatchReindex")
class BatchReindex(Layer):
    """y[i] = x[index[i]] along axis 0, for the integer indices index (M,) in [0, N); repeats allowed.

    Backward: dx[n] = sum of dy[i] over the i with index[i] = n (0 for items never picked); no
    gradient to the indices.
    """

    bottoms = (2, 2)

    def allow_force_backward(self, bottom_index: int) -> bool:
        return bottom_index == 0

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        if bottom[1].num_axes != 1:
            raise self.error(f"the indices (bottom 1) must have one axis (M,), got {list(bottom[1].shape)}")
        if bottom[0].num_axes < 1:
            raise self.error("the data (bottom 0) needs an item axis; got a scalar")
        top[0].reshape((bottom[1].shape[0], *bottom[0].shape[1:]))

    def _indices(self, bottom: Blobs) -> np.ndarray:
        values, items = bottom[1].data, bottom[0].shape[0]
        index = values.astype(np.int64)
        bad = (index != values) | (index < 0) | (index >= items)
        if bad.any():
            raise DataError(f"index {values[bad][0]:g} is not an integer in [0, {items})", layer=self.name,
                            hint="bottom 1 picks items of bottom 0 by position")
        return index

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        np.take(bottom[0].data, self._indices(bottom), axis=0, out=top[0].data)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        if propagate_down[1]:
            raise self.error("BatchReindex cannot propagate gradients to its indices",
                             hint="set propagate_down: false for bottom 1")
        if propagate_down[0]:
            bottom[0].diff.fill(0)
            np.add.at(bottom[0].diff, self._indices(bottom), top[0].diff)
