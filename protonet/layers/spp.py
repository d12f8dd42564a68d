"""SPP: spatial pyramid pooling, a fixed-length vector from an input of any height and width."""

from __future__ import annotations

import numpy as np

from ..ops.pool import Pool2D, PoolGeometry
from ..proto import pb
from .base import Blobs, Layer
from .registry import register

Method = pb.SPPParameter.PoolMethod


def level_geometry(level: int, height: int, width: int) -> PoolGeometry:
    """Caffe's pooling for pyramid level l, which has b = 2^l bins per side: per axis of size S,
    kernel = stride = ceil(S / b) and pad = (kernel * b - S + 1) // 2, so b windows cover the input."""
    bins = 2**level
    kernel = (-(-height // bins), -(-width // bins))
    pad = tuple((k * bins - size + 1) // 2 for k, size in zip(kernel, (height, width)))
    return PoolGeometry(kernel, kernel, pad, ceil=True)


@register("SPP")
class SPP(Layer):
    """Spatial pyramid pooling: MAX or AVE into 1, 2x2, ..., 2^(h-1) x 2^(h-1) bins per channel, concatenated.

    With pyramid_height h > 1 the top is (N, C * sum_l 4^l): per level l (l = 0 .. h-1) the pooled
    (N, C, 2^l, 2^l) flattened, levels in order; with h = 1 it is the (N, C, 1, 1) global pooling,
    as in Caffe. Level l pools with kernel = stride = ceil(S / 2^l) and pad (kernel * 2^l - S + 1) // 2
    per axis (Pooling's semantics: MAX ignores the padding, AVE counts it). As in Caffe, an input
    so small that a level's pad reaches its kernel (e.g. 13 rows into 8 bins) is refused.
    """

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.spp_param
        if p.pyramid_height < 1:
            raise self.error(f"spp_param.pyramid_height must be at least 1, found {p.pyramid_height}")
        if p.pool == Method.STOCHASTIC:
            raise self.error("SPP pools by MAX or AVE; STOCHASTIC is not implemented (as in Caffe)")
        self.levels = p.pyramid_height
        self.ops: list[Pool2D] = []
        self.outputs: list[np.ndarray] = []
        self.grad: np.ndarray | None = None

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        shape = bottom[0].shape
        if len(shape) != 4 or min(shape[2:], default=0) < 1:
            raise self.error(f"SPP takes (N, C, H, W) input with H, W >= 1, got shape {list(shape)}")
        n, c, h, w = shape
        geometries = []
        for level in range(self.levels):  # stops by level log2(min(h, w)) + 1 at the latest
            geometry = level_geometry(level, h, w)
            if geometry.pad[0] >= geometry.kernel[0] or geometry.pad[1] >= geometry.kernel[1]:
                bins = 2**level
                raise self.error(f"input {h}x{w} is too small for pyramid level {level} ({bins}x{bins} "
                                 f"bins): its pad {geometry.pad} reaches the kernel {geometry.kernel}",
                                 hint="lower spp_param.pyramid_height or enlarge the input")
            geometries.append(geometry)
        if [op.geometry for op in self.ops] != geometries:
            self.ops = [Pool2D(geometry) for geometry in geometries]
        dtype = bottom[0].dtype
        if not self.outputs or self.outputs[0].shape[:2] != (n, c) or self.outputs[0].dtype != dtype:
            self.outputs = [np.empty((n, c, 2**level, 2**level), dtype) for level in range(self.levels)]
        top[0].reshape((n, c, 1, 1) if self.levels == 1 else (n, sum(y[0].size for y in self.outputs)))

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        max_pool = self.param.spp_param.pool == Method.MAX
        flat = top[0].data.reshape(len(top[0].data), -1)
        start = 0
        for op, y in zip(self.ops, self.outputs):
            if max_pool:
                op.max_forward(bottom[0].data, y, self.bottom_grads_needed)
            else:
                op.ave_forward(bottom[0].data, y)
            flat[:, start:start + y[0].size] = y.reshape(len(y), -1)
            start += y[0].size

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        """dx = sum over levels of each level's pooling backward of its slice of the top diff."""
        if not propagate_down[0]:
            return
        max_pool = self.param.spp_param.pool == Method.MAX
        dx = bottom[0].diff
        if self.grad is None or self.grad.shape != dx.shape or self.grad.dtype != dx.dtype:
            self.grad = np.empty_like(dx)
        flat = top[0].diff.reshape(len(dx), -1)
        start = 0
        for level, (op, y) in enumerate(zip(self.ops, self.outputs)):
            dy = flat[:, start:start + y[0].size].reshape(y.shape)
            start += y[0].size
            (op.max_backward if max_pool else op.ave_backward)(dy, dx if level == 0 else self.grad)
            if level:
                dx += self.grad
