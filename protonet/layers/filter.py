"""Filter: keeps the items (rows along axis 0) whose selector is non-zero."""

from __future__ import annotations

import numpy as np

from .base import Blobs, Layer
from .registry import register


@register("Filter")
class Filter(Layer):
    """Tops = the other bottoms' items whose selector (the last bottom, (N,) or (N, 1, ...)) is non-zero.

    With S = {n : selector[n] != 0} in increasing order, top_k = bottom_k[S] (shape (|S|, ...)).
    Backward: dbottom_k[S] = dtop_k and 0 at the items filtered out; none to the selector. The
    number of items changes with the selector: as in Caffe, tops keep all N items until the first
    forward (the selector holds no data before it), then follow the selection.
    """

    bottoms = (2, None)
    tops = (1, None)

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        if len(top) != len(bottom) - 1:
            raise self.error(f"{len(bottom)} bottoms (the last the selector) need {len(bottom) - 1} tops, "
                             f"found {len(top)}")
        self.index: np.ndarray | None = None

    def allow_force_backward(self, bottom_index: int) -> bool:
        return bottom_index != len(self.param.bottom) - 1

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        selector = bottom[-1].shape
        if not selector or any(d != 1 for d in selector[1:]):
            raise self.error(f"the selector (last bottom) must be (N,) or (N, 1, ...), got {list(selector)}")
        for k, blob in enumerate(bottom[:-1]):
            if blob.shape[:1] != selector[:1]:
                items = blob.shape[0] if blob.shape else "no"
                raise self.error(f"bottom {k} has {items} items along axis 0, the selector {selector[0]}",
                                 hint="every bottom needs one item per selector value")
        count = selector[0] if self.index is None else np.count_nonzero(bottom[-1].data)
        for blob, source in zip(top, bottom):
            blob.reshape((count, *source.shape[1:]))

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        self.index = np.flatnonzero(bottom[-1].data)
        self.reshape(bottom, top)
        for blob, source in zip(top, bottom):
            np.take(source.data, self.index, axis=0, out=blob.data)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        if propagate_down[-1]:
            raise self.error("Filter cannot propagate gradients to its selector",
                             hint="set propagate_down: false for the last bottom")
        for blob, source, down in zip(top, bottom, propagate_down):
            if down:
                source.diff.fill(0)
                source.diff[self.index] = blob.diff
