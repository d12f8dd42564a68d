"""A net as an ONNX model: its Input blobs are the graph's inputs, its output blobs the graph's outputs, every
value named after the Caffe blob it holds. ONNX names each value once, so where in-place layers write a blob
again, the versions before the last are named `blob@layer` (and so are all the versions of an input blob:
its name is the input's)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from .. import __version__
from ..config import layer_line, load_net
from ..errors import ConfigError, ProtonetError, WeightsError, did_you_mean
from ..io import atomic_write
from ..net import Net
from ..proto import pb
from .graph import Graph, Step, onnx_module
from .registry import converter

if TYPE_CHECKING:
    import onnx

MIN_OPSET = 13  # Softmax along one axis; Split, Unsqueeze and Pad take their sizes as inputs
DEFAULT_OPSET = 17
BATCH = "batch"  # the symbolic batch size of the inputs


def to_onnx(net: Net, *, opset: int = DEFAULT_OPSET, fixed_batch: Iterable[str] = ()) -> onnx.ModelProto:
    """The net's TEST-phase forward as an ONNX model, checked by onnx.checker and ONNX's strict shape
    inference (what the checker's full check adds, run once, without the weights). The inputs' batch axes are
    symbolic (`batch`) but for the inputs in `fixed_batch`; all other axes have the net's sizes."""
    onnx = onnx_module()
    if not MIN_OPSET <= opset <= onnx.defs.onnx_opset_version():
        raise ConfigError(f"opset {opset} is not supported",
                          hint=f"choose {MIN_OPSET} to {onnx.defs.onnx_opset_version()} (default {DEFAULT_OPSET})")
    g = Graph(reserved=net.blobs, outputs=net.outputs)
    values = convert_layers(g, net)
    fixed = set(fixed_batch)
    inputs = [onnx.helper.make_tensor_value_info(
        name, onnx.TensorProto.FLOAT, list(shape) if name in fixed or not shape else [BATCH, *shape[1:]])
        for name, shape in ((name, net.blobs[name].shape) for name in net.inputs)]
    outputs = [onnx.helper.make_tensor_value_info(values[name], onnx.TensorProto.FLOAT, None) for name in net.outputs]
    version = [onnx.helper.make_opsetid("", opset)]
    model = make_model(onnx, g.nodes, g.initializers, net.name, inputs,
                       outputs_with_shapes(onnx, g, inputs, outputs, version), version)
    onnx.checker.check_model(model)  # the full check's strict shape inference ran in outputs_with_shapes
    return model


def convert_layers(g: Graph, net: Net) -> dict[str, str]:
    """Every layer but the Inputs written into `g`, in order; returns blob name -> its last ONNX value."""
    last_writer = {top: i for i, tops in enumerate(net.top_names) for top in tops}
    values = {name: name for name in net.inputs}
    for i, layer in enumerate(net.layers):
        if layer.type == "Input":
            continue
        g.prefix = layer.name
        tops = [top if last_writer[top] == i and top not in net.inputs else g.unique(f"{top}@{layer.name}")
                for top in net.top_names[i]]
        step = Step(layer, [values[b] for b in net.bottom_names[i]], tops,
                    [net.blobs[b].shape for b in net.bottom_names[i]], [net.blobs[t].shape for t in net.top_names[i]])
        converter(layer)(g, step)
        values.update(zip(net.top_names[i], step.tops, strict=True))
    return values


def make_model(onnx: ModuleType, nodes: list, constants: list, name: str, inputs: list, outputs: list,
               version: list) -> onnx.ModelProto:
    graph = onnx.helper.make_graph(nodes, name or "net", inputs, outputs, constants)
    return onnx.helper.make_model(graph, opset_imports=version, producer_name="protonet", producer_version=__version__,
                                  ir_version=onnx.helper.find_min_ir_version_for(version))


def outputs_with_shapes(onnx: ModuleType, g: Graph, inputs: list, outputs: list, version: list) -> list:
    """The graph outputs with the shapes ONNX's strict shape inference gives them, inferred on a copy of the
    graph whose float constants are inputs of their shapes (the weights' data would only slow it down)."""
    floats = [c for c in g.initializers if c.data_type == onnx.TensorProto.FLOAT]
    shapes = [onnx.helper.make_tensor_value_info(c.name, c.data_type, c.dims) for c in floats]
    ints = [c for c in g.initializers if c.data_type != onnx.TensorProto.FLOAT]
    skeleton = make_model(onnx, g.nodes, ints, "", inputs + shapes, outputs, version)
    return list(onnx.shape_inference.infer_shapes(skeleton, strict_mode=True).graph.output)


def parse_input_shape(spec: str) -> tuple[str, tuple[int, ...]]:
    """'NAME=N,C,H,W' -> (NAME, (N, C, H, W)); positive sizes only."""
    match = re.fullmatch(r"\s*([^=\s]+)\s*=\s*(\d+(?:\s*,\s*\d+)*)\s*", spec)
    shape = tuple(int(d) for d in match.group(2).split(",")) if match else ()
    if not match or 0 in shape:
        raise ConfigError(f"--input-shape '{spec}' is not NAME=N,C,H,W", hint="give the blob name and positive "
                          "sizes, e.g. data=1,3,224,224")
    return match.group(1), shape


def with_input_shapes(param: pb.NetParameter, shapes: dict[str, tuple[int, ...]]) -> pb.NetParameter:
    """A copy of `param` whose Input layers give these blobs these shapes; an error for a name that is no input."""
    param = pb.NetParameter.FromString(param.SerializeToString())
    found = {}
    for layer in (layer for layer in param.layer if layer.type == "Input"):
        given = list(layer.input_param.shape)
        if len(given) == 1 and len(layer.top) > 1:  # one shape for all tops: one each, to set them apart
            given = given * len(layer.top)
        layer.input_param.ClearField("shape")
        for top, shape in zip(layer.top, given):
            layer.input_param.shape.add().CopyFrom(shape)
            found[top] = layer.input_param.shape[-1]
    for name, shape in shapes.items():
        if name not in found:
            inputs = ", ".join(found) or "none"
            raise ConfigError(f"--input-shape {name}: '{name}' is not an input blob of the net (its inputs: {inputs})",
                              hint=did_you_mean(name, found))
        found[name].ClearField("dim")
        found[name].dim.extend(shape)
    return param


def reshaped_net(model: str | Path, shapes: dict[str, tuple[int, ...]]) -> Net:
    """The TEST net of `model` built with these input shapes; an error that a layer raises on them says so."""
    param = with_input_shapes(load_net(model), shapes)
    try:
        return Net(param, phase="TEST", base_dir=Path(model).resolve().parent, channels_last=False)
    except ProtonetError as exc:
        where = f"layer '{exc.layer}': " if exc.layer else ""
        raise type(exc)(f"the net cannot take the input shape {shape_text(shapes)}: {where}{exc.message}",
                        file=str(model), hint=exc.hint) from None


def copy_weights(net: Net, weights: str | Path, shapes: dict[str, tuple[int, ...]]) -> None:
    """net.copy_from(weights), its errors without the training hint (--reinit), saying so when the weights do not
    fit the input shapes given."""
    try:
        net.copy_from(weights)
    except WeightsError as exc:
        hint = f"the weights do not fit the net with the input shape {shape_text(shapes)}" if shapes else None
        raise WeightsError(exc.message, file=exc.file, layer=exc.layer, hint=hint) from None


def shape_text(shapes: dict[str, tuple[int, ...]]) -> str:
    return " ".join(f"{name}={','.join(map(str, shape))}" for name, shape in shapes.items())


def export(model: str | Path, out: str | Path, *, weights: str | Path | None = None,
           input_shapes: dict[str, tuple[int, ...]] | None = None, opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """Build the net of `model` (TEST phase) with `weights` and the given input shapes, and write it to `out`
    as ONNX, atomically (a temporary file, then a rename). Returns the onnx.ModelProto."""
    shapes = input_shapes or {}
    net = reshaped_net(model, shapes) if shapes else Net(model, phase="TEST", channels_last=False)
    if weights:
        copy_weights(net, weights, shapes)
    try:
        onnx_model = to_onnx(net, opset=opset, fixed_batch=shapes)
    except ProtonetError as exc:
        raise exc.located(file=str(model), line=layer_line(model, exc.layer) if exc.layer else None) from None
    atomic_write(out, onnx_model.SerializeToString())
    return onnx_model
