"""ArgMax: the indices (and optionally values) of the top_k largest values."""

from __future__ import annotations

import numpy as np

from .base import Blobs, Layer, canonical_axis
from .registry import register


@register("ArgMax")
class ArgMax(Layer):
    """Indices (or values, out_max_val) of the top_k largest values along `axis`, or over each item.

    Without `axis` the top is (N, 1, top_k), or (N, 2, top_k) holding indices then values with
    out_max_val. Ties go to the larger index, as in Caffe.
    """

    has_backward = False

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.argmax_param
        self.axis = canonical_axis(p.axis, bottom[0].num_axes, self.name) if p.HasField("axis") else None
        if p.top_k < 1:
            raise self.error("argmax_param.top_k must be at least 1")

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.argmax_param
        shape = bottom[0].shape
        dim = shape[self.axis] if self.axis is not None else bottom[0].count // max(shape[0], 1)
        if p.top_k > dim:
            raise self.error(f"top_k {p.top_k} is more than the {dim} values to choose from")
        if self.axis is not None:
            top[0].reshape(shape[:self.axis] + (p.top_k,) + shape[self.axis + 1:])
        else:
            top[0].reshape((shape[0], 2 if p.out_max_val else 1, p.top_k) + (1,) * (len(shape) - 3))

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.argmax_param
        x = bottom[0].data
        rows = np.moveaxis(x, self.axis, -1) if self.axis is not None else x.reshape(x.shape[0], -1)
        # a stable ascending sort of -x, reversed along the row, puts ties' larger index first (as Caffe)
        order = np.argsort(-rows[..., ::-1], axis=-1, kind="stable")[..., :p.top_k]
        index = rows.shape[-1] - 1 - order
        value = np.take_along_axis(rows, index, axis=-1)
        if self.axis is not None:
            np.copyto(top[0].data, np.moveaxis(value if p.out_max_val else index, -1, self.axis))
        else:
            out = top[0].data.reshape(x.shape[0], -1, p.top_k)
            out[:, 0] = index
            if p.out_max_val:
                out[:, 1] = value
