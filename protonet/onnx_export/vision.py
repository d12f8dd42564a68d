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
    sizes, outs, pads = s.bottom_shapes[0][2:], s.top_shapes[0][2:], layer.pad
    window = {"kernel_shape": list(layer.kernel), "strides": list(layer.stride)}
    if method == Method.MAX:
        ends = [end_pad(n + p, k, st, o) for n, p, k, st, o in zip(sizes, pads, layer.kernel, layer.stride, outs)]
        g.op("MaxPool", [x], y, pads=[*pads, *ends], **window)
        return
    if any(pads):
        x = g.op("Pad", [x, g.ints([0, 0, *pads, 0, 0, *pads], "pads")])
    ends = [end_pad(n + 2 * p, k, st, o) for n, p, k, st, o in zip(sizes, pads, layer.kernel, layer.stride, outs)]
    g.op("AveragePool", [x], y, pads=[0, 0, *ends], count_include_pad=0, **window)


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
