"""Fully connected, normalisation, element-wise arithmetic and the layers that reshape, join or cut blobs.

ONNX's Reshape copies an axis where the shape says 0 and infers the one -1, as Caffe's does; the reshapes here
copy the axes before the ones they change (0), so a batch axis in front keeps whatever size it is given.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..layers.base import canonical_axis
from ..proto import pb
from .graph import Graph, Step
from .registry import converts

Op = pb.EltwiseParameter.EltwiseOp


def reshape(g: Graph, x: str, dims: Sequence[int], out: str | None = None) -> str:
    return g.op("Reshape", [x, g.ints(list(dims), "shape")], out)


@converts("InnerProduct")
def inner_product(g: Graph, s: Step) -> None:
    """y = x W^T + b over the axes from `axis` on, flattened: Reshape, MatMul, Add."""
    layer, x = s.layer, s.bottoms[0]
    weights = layer.blobs[0].data
    if not layer.param.inner_product_param.transpose:
        weights = weights.T
    if len(s.bottom_shapes[0]) != layer.axis + 1:
        x = reshape(g, x, [0] * layer.axis + [-1])
    if len(layer.blobs) == 1:
        g.op("MatMul", [x, g.const(weights, "weight")], s.tops[0])
    else:
        product = g.op("MatMul", [x, g.const(weights, "weight")])
        g.op("Add", [product, g.const(layer.blobs[1].data, "bias")], s.tops[0])


@converts("BatchNorm")
def batch_norm(g: Graph, s: Step) -> None:
    """BatchNormalization with scale 1 and bias 0 (Caffe puts those in a Scale layer); the stored statistics
    are sums, divided by the blob-2 factor f (0 when f = 0)."""
    layer = s.layer
    if not layer.global_stats:
        raise layer.error("BatchNorm with use_global_stats: false (the batch's own statistics) cannot be "
                          "exported to ONNX", hint="remove use_global_stats: false from the deploy net")
    mean_sum, var_sum, factor = (blob.data for blob in layer.blobs)
    inverse = 0 if factor[0] == 0 else 1 / factor[0]
    channels = np.ones(layer.channels)
    g.op("BatchNormalization", [s.bottoms[0], g.const(channels, "scale"), g.const(0 * channels, "bias"),
                                g.const(mean_sum * inverse, "mean"), g.const(var_sum * inverse, "var")],
         s.tops[0], epsilon=layer.eps)


def along_axis(g: Graph, s: Step, operand: int | np.ndarray, axis: int, hint: str) -> str:
    """The operand of Scale or Bias (bottom `operand`, or a learned array), shaped like bottom 0's axes from
    `axis` on, with trailing 1s added so that ONNX (which broadcasts from the last axis) lines it up there."""
    shape = s.bottom_shapes[operand] if isinstance(operand, int) else operand.shape
    start = canonical_axis(axis, len(s.bottom_shapes[0]), s.layer.name) if shape else 0
    trailing = len(s.bottom_shapes[0]) - start - len(shape)
    if not isinstance(operand, int):
        return g.const(operand.reshape(shape + (1,) * trailing), hint)
    if not trailing:
        return s.bottoms[operand]
    return g.op("Unsqueeze", [s.bottoms[operand], g.ints(list(range(len(shape), len(shape) + trailing)), "axes")])


@converts("Scale")
def scale(g: Graph, s: Step) -> None:
    """y = x * s (+ b), s learned or bottom 1."""
    layer, p = s.layer, s.layer.param.scale_param
    factor = along_axis(g, s, 1 if len(s.bottoms) > 1 else layer.blobs[0].data, p.axis, "scale")
    if not p.bias_term:
        g.op("Mul", [s.bottoms[0], factor], s.tops[0])
        return
    bias = along_axis(g, s, layer.blobs[-1].data, p.axis, "bias")
    g.op("Add", [g.op("Mul", [s.bottoms[0], factor]), bias], s.tops[0])


@converts("Bias")
def bias(g: Graph, s: Step) -> None:
    """y = x + b, b learned or bottom 1."""
    operand = 1 if len(s.bottoms) > 1 else s.layer.blobs[0].data
    g.op("Add", [s.bottoms[0], along_axis(g, s, operand, s.layer.param.bias_param.axis, "bias")], s.tops[0])


@converts("Eltwise")
def eltwise(g: Graph, s: Step) -> None:
    """SUM (each bottom times its coefficient) is Sum, MAX is Max, PROD a chain of Mul."""
    layer, y = s.layer, s.tops[0]
    if layer.op == Op.SUM:
        terms = [x if c == 1 else g.op("Mul", [x, g.const(c, "coeff")]) for x, c in zip(s.bottoms, layer.coeffs)]
        g.op("Sum", terms, y)
    elif layer.op == Op.MAX:
        g.op("Max", s.bottoms, y)
    else:
        product = s.bottoms[0]
        for k, x in enumerate(s.bottoms[1:], 2):
            product = g.op("Mul", [product, x], y if k == len(s.bottoms) else None)


@converts("Concat")
def concat(g: Graph, s: Step) -> None:
    g.op("Concat", s.bottoms, s.tops[0], axis=s.layer.axis)


@converts("Slice")
def slice_(g: Graph, s: Step) -> None:
    g.node("Split", [s.bottoms[0], g.ints(s.layer.sizes, "split")], s.tops, axis=s.layer.axis)


@converts("Flatten")
def flatten(g: Graph, s: Step) -> None:
    """Axes axis..end_axis merged into one (-1), those before copied (0), those after kept."""
    p, shape = s.layer.param.flatten_param, s.bottom_shapes[0]
    start = canonical_axis(p.axis, len(shape), s.layer.name)
    end = canonical_axis(p.end_axis, len(shape), s.layer.name)
    reshape(g, s.bottoms[0], [0] * start + [-1] + list(shape[end + 1:]), s.tops[0])


@converts("Reshape")
def reshape_(g: Graph, s: Step) -> None:
    """Axes [axis, axis + num_axes) replaced by Caffe's dims (whose 0 and -1 mean what ONNX's do), those before
    copied (0), those after kept."""
    layer, p, shape = s.layer, s.layer.param.reshape_param, s.bottom_shapes[0]
    start = p.axis if p.axis >= 0 else len(shape) + p.axis + 1
    end = len(shape) if p.num_axes == -1 else start + p.num_axes
    if end == 0 and shape:
        raise layer.error("a Reshape of no axes at axis 0 moves the batch axis, which the ONNX graph cannot do "
                          "for every batch size")
    reshape(g, s.bottoms[0], [0] * start + list(p.shape.dim) + list(shape[end:]), s.tops[0])


@converts("Softmax")
def softmax(g: Graph, s: Step) -> None:
    g.op("Softmax", s.bottoms, s.tops[0], axis=s.layer.axis)


@converts("Crop")
def crop(g: Graph, s: Step) -> None:
    """A Slice of bottom 0 on the axes from `axis` on; bottom 1 only gave the sizes."""
    region = s.layer.region
    axes = list(range(canonical_axis(s.layer.param.crop_param.axis, len(region), s.layer.name), len(region)))
    g.op("Slice", [s.bottoms[0], g.ints([region[a].start for a in axes], "starts"),
                   g.ints([region[a].stop for a in axes], "ends"), g.ints(axes, "axes")], s.tops[0])


@converts("Silence")
def silence(g: Graph, s: Step) -> None:
    """No output: its bottoms simply end."""
