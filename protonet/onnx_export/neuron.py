"""Element-wise layers: one ONNX op each where ONNX has it, a short chain of ops where it does not."""

from __future__ import annotations

from collections.abc import Callable

from .graph import Graph, Step
from .registry import converts

# Caffe type -> the ONNX op of the same function (BNLL: log(1 + e^x) is Softplus).
UNARY = {"Sigmoid": "Sigmoid", "TanH": "Tanh", "AbsVal": "Abs", "BNLL": "Softplus"}


def unary(op_type: str) -> Callable[[Graph, Step], None]:
    def convert(g: Graph, s: Step) -> None:
        g.op(op_type, s.bottoms, s.tops[0])

    return convert


for caffe_type, onnx_op in UNARY.items():
    converts(caffe_type)(unary(onnx_op))


def affine(g: Graph, x: str, scale: float, shift: float, out: str | None = None) -> str:
    """scale * x + shift with only the ops that change x (x itself when none does); the last op writes `out`."""
    if scale != 1:
        x = g.op("Mul", [x, g.const(scale, "scale")], out if shift == 0 else None)
    if shift != 0:
        x = g.op("Add", [x, g.const(shift, "shift")], out)
    return x


@converts("Dropout", "Split")
def identity(g: Graph, s: Step) -> None:
    """Dropout is the identity in TEST (it scales in TRAIN); Split hands its bottom to every top."""
    for k in range(len(s.tops)):
        g.alias(s, k, s.bottoms[0])


@converts("ReLU")
def relu(g: Graph, s: Step) -> None:
    slope = s.layer.slope
    if slope:
        g.op("LeakyRelu", s.bottoms, s.tops[0], alpha=float(slope))
    else:
        g.op("Relu", s.bottoms, s.tops[0])


@converts("PReLU")
def prelu(g: Graph, s: Step) -> None:
    """ONNX broadcasts the slope from the last axis, so a per-channel slope becomes (C, 1, ..., 1)."""
    slope = s.layer.blobs[0].data
    if not s.layer.shared:
        slope = slope.reshape(slope.shape + (1,) * (len(s.bottom_shapes[0]) - 2))
    g.op("PRelu", [s.bottoms[0], g.const(slope, "slope")], s.tops[0])


@converts("ELU")
def elu(g: Graph, s: Step) -> None:
    g.op("Elu", s.bottoms, s.tops[0], alpha=float(s.layer.alpha))


@converts("Power")
def power(g: Graph, s: Step) -> None:
    """y = (shift + scale x)^power."""
    layer = s.layer
    if layer.power == 1 and layer.scale == 1 and layer.shift == 0:
        g.alias(s, 0, s.bottoms[0])
    elif layer.power == 1:
        affine(g, s.bottoms[0], layer.scale, layer.shift, s.tops[0])
    else:
        base = affine(g, s.bottoms[0], layer.scale, layer.shift)
        g.op("Pow", [base, g.const(layer.power, "power")], s.tops[0])


@converts("Exp")
def exp(g: Graph, s: Step) -> None:
    """y = base^(shift + scale x) = e^(ln(base) (shift + scale x))."""
    g.op("Exp", [affine(g, s.bottoms[0], s.layer.inner, s.layer.offset)], s.tops[0])


@converts("Log")
def log(g: Graph, s: Step) -> None:
    """y = ln(shift + scale x) / ln(base)."""
    layer = s.layer
    argument = affine(g, s.bottoms[0], layer.scale, layer.shift)
    if layer.ln_base == 1:
        g.op("Log", [argument], s.tops[0])
    else:
        g.op("Mul", [g.op("Log", [argument]), g.const(1 / layer.ln_base, "inverse_ln_base")], s.tops[0])


@converts("Clip")
def clip(g: Graph, s: Step) -> None:
    g.op("Clip", [s.bottoms[0], g.const(s.layer.low, "min"), g.const(s.layer.high, "max")], s.tops[0])


@converts("Threshold")
def threshold(g: Graph, s: Step) -> None:
    """y = 1 where x > threshold, else 0."""
    above = g.op("Greater", [s.bottoms[0], g.const(s.layer.param.threshold_param.threshold, "threshold")])
    g.op("Cast", [above], s.tops[0], to=1)  # 1: FLOAT


@converts("Swish")
def swish(g: Graph, s: Step) -> None:
    """y = x sigmoid(beta x)."""
    x = s.bottoms[0]
    gate = g.op("Sigmoid", [affine(g, x, s.layer.beta, 0)])
    g.op("Mul", [x, gate], s.tops[0])
