"""Convolution, Deconvolution, Pooling and LRN as ONNX ops.

Pooling keeps Caffe's output size and divisor (protonet/ops/pool.py, Caffe's pooling_layer.cpp): OH is
rounded up (or down), and with padding a last window starting at or beyond H + pad is dropped, which ONNX's
ceil_mode does not do. So the export rounds down (ceil_mode 0) over an input padded at its end just enough
that the last window ends at the padded end: end pad = (OH - 1) * stride + kernel - padded size. MAX ignores
padding of any kind. AVE divides by the part of the window inside [-pad, H + pad): the Caffe padding counts,
the overhang beyond it does not; so the Caffe padding becomes a Pad node of zeros (real values to ONNX), and
AveragePool, with count_include_pad 0, pads only the overhang.
"""

from __future__ import annotations

from ..proto import pb
from .graph import Graph, Step
from .neuron import affine
from .registry import converts

Method = pb.PoolingParameter.PoolMethod


@converts("Convolution", "Deconvolution")
def convolution(g: Graph, s: Step) -> None:
    """Conv or ConvTranspose; Caffe's weight layouts are ONNX's, (M, C/group, kh, kw) and (C, M/group, kh, kw).
    Several bottoms: one node each, sharing the weights."""
    layer, geometry = s.layer, s.layer.geometry
    params = [g.const(blob.data, name) for blob, name in zip(layer.blobs, ("weight", "bias"))]
    (ph, pw) = geometry.pad
    op_type = "Conv" if layer.type == "Convolution" else "ConvTranspose"
    for x, y in zip(s.bottoms, s.tops, strict=True):
        g.op(op_type, [x, *params], y, kernel_shape=list(geometry.kernel), strides=list(geometry.stride),
             pads=[ph, pw, ph, pw], dilations=list(geometry.dilation), group=geometry.group)


def end_pad(padded: int, kernel: int, stride: int, out: int) -> int:
    """The padding after an axis of `padded` values (its start padding included) that makes ONNX's floor
    rounding give `out` windows: the last window, starting at (out - 1) * stride, ends at the padded end."""
    return max(0, (out - 1) * stride + kernel - padded)


@converts("Pooling")
def pooling(g: Graph, s: Step) -> None:
    layer, method = s.layer, s.layer.param.pooling_param.pool
    if method == Method.STOCHASTIC:
        raise layer.error("STOCHASTIC pooling cannot be exported to ONNX")
    if len(s.tops) > 1:
        raise layer.error("the argmax top of MAX pooling cannot be exported to ONNX", hint="remove the second top")
    x, y = s.bottoms[0], s.tops[0]
    if layer.kernel is None:
        g.op("GlobalMaxPool" if method == Method.MAX else "GlobalAveragePool", [x], y)
        return
    pads = layer.pad
    window = {"kernel_shape": list(layer.kernel), "strides": list(layer.stride)}
    if method == Method.MAX:
        g.op("MaxPool", [x], y, pads=[*pads, *end_pads(s, 1)], **window)
        return
    if any(pads):
        x = g.op("Pad", [x, g.ints([0, 0, *pads, 0, 0, *pads], "pads")])
    g.op("AveragePool", [x], y, pads=[0, 0, *end_pads(s, 2)], count_include_pad=0, **window)


def end_pads(s: Step, sides: int) -> list[int]:
    """end_pad of both axes for an input padded on `sides` sides by Caffe's pad. A window wholly beyond the
    input (rounding up with a kernel smaller than the stride, unpadded) is an error: ONNX needs pads < kernel."""
    layer = s.layer
    ends = [end_pad(n + sides * p, k, st, o) for n, p, k, st, o in
            zip(s.bottom_shapes[0][2:], layer.pad, layer.kernel, layer.stride, s.top_shapes[0][2:])]
    if any(end >= k for end, k in zip(ends, layer.kernel)):
        raise layer.error(f"the last pooling window (kernel {layer.kernel}, stride {layer.stride}, rounded up) "
                          "lies wholly beyond the input, which ONNX cannot express", hint="use round_mode: FLOOR")
    return ends


@converts("LRN")
def lrn(g: Graph, s: Step) -> None:
    """ACROSS_CHANNELS is ONNX's LRN. WITHIN_CHANNEL, which ONNX lacks, is composed as Caffe builds it:
    y = x (1 + alpha * mean of x^2 over the n x n window, zero padded)^-beta."""
    layer, x = s.layer, s.bottoms[0]
    if layer.across:
        g.op("LRN", [x], s.tops[0], size=layer.size, alpha=layer.alpha, beta=layer.beta, bias=layer.k)
        return
    n, pad = layer.size, layer.size // 2
    mean = g.op("AveragePool", [g.op("Mul", [x, x])], kernel_shape=[n, n], pads=[pad] * 4, count_include_pad=1)
    scale = affine(g, mean, layer.alpha, 1)
    g.op("Mul", [x, g.op("Pow", [scale, g.const(-layer.beta, "minus_beta")])], s.tops[0])
