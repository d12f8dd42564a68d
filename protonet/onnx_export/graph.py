"""The ONNX graph a net is written into: nodes, constants and values, each under a name of its own."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from ..extras import require
from ..layers.base import Layer

Shape = tuple[int, ...]


def onnx_module() -> ModuleType:
    """The onnx package, or one error naming the extra that installs it."""
    return require("onnx", "onnx", "ONNX export needs the onnx package")


@dataclass
class Step:
    """One layer being converted: the ONNX values of its bottoms, the names its tops are to get (a converter
    writes each top under its name, or `Graph.alias`es it to a value it has), and the blob shapes of the net
    as it was built. The batch axis of the ONNX graph may differ from the built one: converters read the
    other axes only."""

    layer: Layer
    bottoms: list[str]
    tops: list[str]
    bottom_shapes: list[Shape]
    top_shapes: list[Shape]


class Graph:
    """Nodes and initializers in the order they are added; names are unique, and a temporary value never
    takes a name in `reserved` (the Caffe blob names, which the net's own values keep)."""

    def __init__(self, reserved: Iterable[str], outputs: Iterable[str]) -> None:
        self.onnx = onnx_module()
        self.nodes: list = []
        self.initializers: list = []
        self.taken = set(reserved)
        self.outputs = set(outputs)
        self.prefix = ""  # the layer being converted, which temporary names start with

    def name(self, hint: str) -> str:
        """A new name for a temporary value, `prefix/hint` (made unique)."""
        return self.unique(f"{self.prefix}/{hint}" if self.prefix else hint)

    def unique(self, name: str) -> str:
        """`name`, or `name_K` with the first K that makes it new."""
        base, k = name, 1
        while name in self.taken:
            name, k = f"{base}_{k}", k + 1
        self.taken.add(name)
        return name

    def node(self, op_type: str, inputs: Sequence[str], outputs: Sequence[str], **attrs: object) -> list[str]:
        """Add a node; returns its outputs."""
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), list(outputs),
                                                     name=self.name(op_type), **attrs))
        return list(outputs)

    def op(self, op_type: str, inputs: Sequence[str], out: str | None = None, **attrs: object) -> str:
        """Add a node with one output, `out` or a new temporary value; returns that output."""
        return self.node(op_type, inputs, [out or self.name(op_type.lower())], **attrs)[0]

    def const(self, array: np.ndarray | float, hint: str, dtype: type = np.float32) -> str:
        """A constant (an initializer) holding `array`, as float32 unless `dtype` says otherwise."""
        name = self.name(hint)
        array = np.ascontiguousarray(array, dtype=dtype)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def ints(self, values: Sequence[int], hint: str) -> str:
        return self.const(values, hint, np.int64)

    def alias(self, step: Step, k: int, value: str) -> None:
        """Top k of the step is `value` itself (no node), unless the top is a graph output, which must carry
        its Caffe name: then an Identity node names it."""
        if step.tops[k] in self.outputs:
            self.op("Identity", [value], step.tops[k])
        else:
            step.tops[k] = value
