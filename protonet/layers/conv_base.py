"""Shared base of Convolution and Deconvolution: Caffe's ConvolutionParameter read into a 2-D geometry."""

from __future__ import annotations

from ..blob import Blob
from ..ops.conv import Conv2D, ConvGeometry
from ..proto import pb
from .base import Blobs, Layer, canonical_axis


class ConvolutionBase(Layer):
    """Reads convolution_param (kernel, stride, pad, dilation, group, num_output, fillers), creates the
    weights and bias, and keeps one `Conv2D` per bottom/top pair (pairs share the weights, as Caffe's).

    Subclasses give `weight_shape(channels)` and `output_size(height, width)`.
    """

    bottoms = (1, None)
    tops = (1, None)

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.convolution_param
        if len(bottom) != len(top):
            raise self.error(f"{len(bottom)} bottoms but {len(top)} tops",
                             hint="each bottom is convolved into the top at the same position")
        axis = canonical_axis(p.axis, bottom[0].num_axes, self.name)
        if axis != 1 or bottom[0].num_axes != 4:
            raise self.error(f"only 2-D convolution over (N, C, H, W) is supported; got input shape "
                             f"{list(bottom[0].shape)} with channel axis {axis}")
        if not p.num_output:
            raise self.error("convolution_param.num_output must be set and positive")
        self.geometry = ConvGeometry(
            kernel=self._pair(p, "kernel_size", "kernel_h", "kernel_w", None),
            stride=self._pair(p, "stride", "stride_h", "stride_w", 1),
            pad=self._pair(p, "pad", "pad_h", "pad_w", 0),
            dilation=self._pair(p, "dilation", None, None, 1),
            group=p.group)
        if min(self.geometry.kernel) < 1 or min(self.geometry.stride) < 1 or min(self.geometry.dilation) < 1:
            raise self.error(f"kernel {self.geometry.kernel}, stride {self.geometry.stride} and dilation "
                             f"{self.geometry.dilation} must be positive")
        self.channels = bottom[0].shape[1]
        group = p.group
        if group < 1 or self.channels % group or p.num_output % group:
            raise self.error(f"group {group} must divide both the {self.channels} input channels and "
                             f"num_output {p.num_output}")
        self.blobs = [self.make_param(self.weight_shape(self.channels), _filler(p, "weight_filler"))]
        if p.bias_term:
            self.blobs.append(self.make_param((p.num_output,), _filler(p, "bias_filler")))
        self.ops = [Conv2D(self.geometry) for _ in bottom]
        self._thread_ops: dict[int, list[Conv2D]] = {}

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        shape = bottom[0].shape
        if len(shape) != 4 or shape[1] != self.channels:
            raise self.error(f"input shape {list(shape)} does not fit the weights, which expect "
                             f"(N, {self.channels}, H, W)")
        for b in bottom[1:]:
            if b.shape != shape:
                raise self.error(f"all inputs must have one shape; got {list(shape)} and {list(b.shape)}")
        height, width = self.output_size(*shape[2:])
        if height < 1 or width < 1:
            g = self.geometry
            raise self.error(f"input {shape[2]}x{shape[3]} gives an empty output ({height}x{width}) with "
                             f"kernel {g.kernel}, pad {g.pad}, stride {g.stride}, dilation {g.dilation}")
        for t in top:
            t.reshape((shape[0], self.param.convolution_param.num_output, height, width))

    def thread_ops(self, index: int, count: int) -> list[Conv2D]:
        """Bottom `index`'s kernels for `count` threads, each with its own work arrays (the first: ops[index])."""
        ops = self._thread_ops.setdefault(index, [self.ops[index]])
        while len(ops) < count:
            ops.append(Conv2D(self.geometry))
        return ops[:count]

    def weight_shape(self, channels: int) -> tuple[int, int, int, int]:
        raise NotImplementedError

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        raise NotImplementedError

    def bias(self) -> Blob | None:
        return self.blobs[1] if len(self.blobs) > 1 else None

    def _pair(self, p: pb.ConvolutionParameter, repeated: str, name_h: str | None, name_w: str | None,
              default: int | None) -> tuple[int, int]:
        """(h, w) from `name_h`/`name_w`, or from the repeated field given once or once per axis."""
        if name_h and (p.HasField(name_h) or p.HasField(name_w)):
            if len(getattr(p, repeated)):
                raise self.error(f"give either {repeated} or {name_h}/{name_w}, not both")
            return getattr(p, name_h), getattr(p, name_w)
        values = list(getattr(p, repeated))
        if not values and default is not None:
            return default, default
        if len(values) not in (1, 2):
            raise self.error(f"{repeated} must be given once or once per spatial axis (2), "
                             f"got {len(values)} values")
        return values[0], values[-1]


def _filler(p: pb.ConvolutionParameter, name: str) -> pb.FillerParameter | None:
    return getattr(p, name) if p.HasField(name) else None
