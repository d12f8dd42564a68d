"""Eltwise: element-wise SUM (with coefficients), PROD or MAX of several blobs of one shape."""

from __future__ import annotations

import numpy as np

from ..proto import pb
from .axis_ops import refuse_in_place
from .base import Blobs, Layer
from .registry import register

Op = pb.EltwiseParameter


@register("Eltwise")
class Eltwise(Layer):
    """y = sum_i c_i x_i (SUM), prod_i x_i (PROD) or max_i x_i (MAX) over bottoms of one shape.

    Backward: SUM dx_i = c_i dy; PROD dx_i = dy prod_{j != i} x_j (stable_prod_grad) or dy y / x_i;
    MAX dx_i = dy where bottom i held the maximum (ties between bottoms 0 and 1 go to 1, later ones to
    the earlier bottom, as Caffe).
    """

    bottoms = (2, None)

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        refuse_in_place(self, bottom, top)
        p = self.param.eltwise_param
        self.op = p.operation
        if p.coeff and self.op != Op.SUM:
            raise self.error(f"coeff is only for operation SUM, not {Op.EltwiseOp.Name(self.op)}")
        if p.coeff and len(p.coeff) != len(bottom):
            raise self.error(f"{len(p.coeff)} coeff values for {len(bottom)} bottoms",
                             hint="give one per bottom")
        self.coeffs = list(p.coeff) or [1.0] * len(bottom)

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        for k, blob in enumerate(bottom[1:], 1):
            if blob.shape != bottom[0].shape:
                raise self.error(f"bottom {k} has shape {list(blob.shape)}, bottom 0 {list(bottom[0].shape)}",
                                 hint="Eltwise needs bottoms of one shape")
        top[0].reshape(bottom[0].shape)

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        y = top[0].data
        if self.op == Op.SUM:
            np.multiply(bottom[0].data, self.coeffs[0], out=y)
            for blob, c in zip(bottom[1:], self.coeffs[1:], strict=True):
                y += c * blob.data if c != 1 else blob.data
        elif self.op == Op.PROD:
            np.copyto(y, bottom[0].data)
            for blob in bottom[1:]:
                y *= blob.data
        else:
            np.copyto(y, bottom[0].data)
            self.argmax = np.zeros(y.shape, np.int32)
            for i, blob in enumerate(bottom[1:], 1):
                wins = blob.data >= y if i == 1 else blob.data > y
                np.copyto(y, blob.data, where=wins)
                self.argmax[wins] = i

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        dy = top[0].diff
        stable = self.param.eltwise_param.stable_prod_grad
        for i, blob in enumerate(bottom):
            if not propagate_down[i]:
                continue
            dx = blob.diff
            if self.op == Op.SUM:
                np.multiply(dy, self.coeffs[i], out=dx)
            elif self.op == Op.MAX:
                np.multiply(dy, self.argmax == i, out=dx)
            elif stable:
                np.copyto(dx, dy)
                for j, other in enumerate(bottom):
                    if j != i:
                        dx *= other.data
            else:
                np.divide(top[0].data, blob.data, out=dx)
                dx *= dy
