"""ONNX export of a net's TEST-phase forward: one small converter per layer type, in a registry like the layers'
(`protonet export`, or `to_onnx(net)` / `export(model, out)`; needs the onnx extra)."""

from . import common, neuron, vision  # noqa: F401  (each registers its converters)
from .model import DEFAULT_OPSET, MIN_OPSET, export, parse_input_shape, to_onnx
from .registry import exportable_types

__all__ = ["DEFAULT_OPSET", "MIN_OPSET", "export", "exportable_types", "parse_input_shape", "to_onnx"]
