"""Pooling: max, average or stochastic over 2-D windows, with Caffe's output size and tie rule."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..ops import parallel
from ..ops.pool import Pool2D, PoolGeometry
from ..proto import pb
from .base import Blobs, Layer
from .registry import register

Method = pb.PoolingParameter.PoolMethod
MAX, AVE, STOCHASTIC = Method.MAX, Method.AVE, Method.STOCHASTIC  # plain ints: no enum lookups per call
MIN_SPLIT_ELEMENTS = 1 << 18  # smaller inputs pooled in one piece (LeNet pool2, batch 64: 0.17 ms whole, 0.24 in two)
PART_ELEMENTS = 1 << 20


@register("Pooling")
class Pooling(Layer):
    """2-D MAX, AVE or STOCHASTIC pooling, Caffe's ceil output size; MAX may output its argmax as top 2."""

    bottoms = (1, 1)
    tops = (1, 2)
    runs_parts = True

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.pooling_param
        if bottom[0].num_axes != 4:
            raise self.error(f"pooling takes (N, C, H, W) input, got shape {list(bottom[0].shape)}")
        if len(top) > 1 and p.pool != MAX:
            raise self.error(f"only MAX pooling has a second top (the argmax), not {Method.Name(p.pool)}")
        if p.global_pooling:
            if p.HasField("kernel_size") or p.HasField("kernel_h") or p.HasField("kernel_w"):
                raise self.error("global_pooling takes the kernel from the input",
                                 hint="remove kernel_size/kernel_h/kernel_w")
            self.kernel = None
        else:
            self.kernel = self._pair("kernel_size", "kernel_h", "kernel_w", None)
        self.pad = self._pair("pad", "pad_h", "pad_w", 0)
        self.stride = self._pair("stride", "stride_h", "stride_w", 1)
        if min(self.stride) < 1 or (self.kernel and min(self.kernel) < 1):
            raise self.error(f"kernel {self.kernel} and stride {self.stride} must be positive")
        if p.global_pooling and (any(self.pad) or self.stride != (1, 1)):
            raise self.error(f"global_pooling needs pad 0 and stride 1, got pad {self.pad}, "
                             f"stride {self.stride}")
        if any(self.pad) and p.pool == STOCHASTIC:
            raise self.error("STOCHASTIC pooling takes no padding (as in Caffe)")
        if self.kernel and (self.pad[0] >= self.kernel[0] or self.pad[1] >= self.kernel[1]):
            raise self.error(f"pad {self.pad} must be smaller than the kernel {self.kernel}")
        self.ceil = self._ceil()
        self.op: Pool2D | None = None
        self.ops: list[Pool2D] = []  # self.op, then one more per further thread
        self.split: list[slice] = []  # the batch slices of the last forward, one per op

    def supports_channels_last(self) -> bool:
        """MAX and AVE over windows (STOCHASTIC draws its numbers in Caffe's element order; global pooling
        and the argmax top read the planes flat)."""
        p = self.param.pooling_param
        return p.pool in (MAX, AVE) and not p.global_pooling and len(self.param.top) < 2

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        n, c, h, w = bottom[0].shape
        geometry = PoolGeometry(self.kernel or (h, w), self.stride, self.pad, self.ceil)
        if self.op is None or self.op.geometry != geometry:
            self.op = Pool2D(geometry)
            self.ops = [self.op]
        oh, ow = geometry.output_size(h, w)
        if oh < 1 or ow < 1:
            raise self.error(f"input {h}x{w} is smaller than the {geometry.kernel} kernel (pad {self.pad})")
        for t in top:
            t.reshape((n, c, oh, ow))

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        """MAX and AVE: the batch in parts (`batch_parts`) spread over the threads of ops.parallel, a kernel
        object (with its own argmax) per part; STOCHASTIC in one piece, its random draws in Caffe's order."""
        x, y = bottom[0].data, top[0].data
        method = self.param.pooling_param.pool
        if method == STOCHASTIC:
            self.split = [slice(0, x.shape[0])]
            self.op.stochastic_forward(x, y, self.ctx.rng if self.ctx.training else None)
            return
        self.split = self.batch_parts(x)
        while len(self.ops) < len(self.split):
            self.ops.append(Pool2D(self.op.geometry))
        with_argmax = self.bottom_grads_needed or len(top) > 1
        if method == MAX:
            self._run(lambda op, part: op.max_forward(x[part], y[part], with_argmax))
        else:
            self._run(lambda op, part: op.ave_forward(x[part], y[part]))
        if method == MAX and len(top) > 1:
            masks = [self.ops[k].mask(x.shape[3]) for k in range(len(self.split))]
            top[1].data = masks[0] if len(masks) == 1 else np.concatenate(masks)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        if not propagate_down[0]:
            return
        method = self.param.pooling_param.pool
        if method == STOCHASTIC and not self.ctx.training:
            raise self.error("STOCHASTIC pooling has no gradient in the TEST phase (it samples in TRAIN)")
        dy, dx = top[0].diff, bottom[0].diff
        if method == AVE:
            self._run(lambda op, part: op.ave_backward(dy[part], dx[part]))
        else:
            self._run(lambda op, part: op.max_backward(dy[part], dx[part]))

    def batch_parts(self, x: np.ndarray) -> list[slice]:
        """The batch in parts of at most about PART_ELEMENTS input values, whose work arrays then stay in
        cache (CIFAR-10 quick's pool1, 3.3M values at batch 100: forward 6.9 -> 4.4 ms in 4 parts, on one
        core), a multiple of the thread count of them when the input has MIN_SPLIT_ELEMENTS."""
        n, per_image = x.shape[0], max(x[0].size, 1)
        count = -(-n * per_image // PART_ELEMENTS)
        if n * per_image >= MIN_SPLIT_ELEMENTS:
            count = -(-count // parallel.threads()) * parallel.threads()
        return parallel.parts(n, min(count, n))

    def _run(self, work: Callable[[Pool2D, slice], None]) -> None:
        """work(op, part) for every part of the last forward's split, with its op; the parts dealt in turn
        to the threads."""
        ops, split = self.ops, self.split
        threads = min(parallel.threads(), len(split))

        def parts_of_thread(k: int) -> None:
            for i in range(k, len(split), threads):
                work(ops[i], split[i])

        parallel.run(parts_of_thread, threads)

    def _pair(self, single: str, name_h: str, name_w: str, default: int | None) -> tuple[int, int]:
        """Caffe's rule: `single`, or both `name_h` and `name_w`, never a mix."""
        p = self.param.pooling_param
        has_h, has_w = p.HasField(name_h), p.HasField(name_w)
        if has_h or has_w:
            if p.HasField(single) or not (has_h and has_w):
                raise self.error(f"give {single}, or both {name_h} and {name_w}")
            return getattr(p, name_h), getattr(p, name_w)
        if default is None and not p.HasField(single):
            raise self.error(f"pooling_param needs {single} (or {name_h} and {name_w})",
                             hint="or set global_pooling: true")
        value = getattr(p, single) if p.HasField(single) else default
        return value, value

    def _ceil(self) -> bool:
        """round_mode CEIL (the default) or FLOOR; the fork spelling ceil_mode: false means FLOOR."""
        p = self.param.pooling_param
        ceil = p.round_mode == pb.PoolingParameter.CEIL
        if p.HasField("ceil_mode"):
            if p.HasField("round_mode") and p.ceil_mode != ceil:
                raise self.error(f"ceil_mode: {str(p.ceil_mode).lower()} contradicts round_mode: "
                                 f"{pb.PoolingParameter.RoundMode.Name(p.round_mode)}")
            ceil = p.ceil_mode
        return ceil
