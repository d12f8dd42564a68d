"""`protonet draw`: a net as a Graphviz graph, in the manner of Caffe's python/caffe/draw.py.

Layers are boxes labelled with their name, type and key parameters (outputs, kernel, stride,
pad, pooling method...). Blobs are the edges from the layer that writes them to each layer
that reads them, labelled with the blob's name and shape (the shapes come from building the
net in the requested phase; a net that does not build, e.g. for a missing data source, is
drawn without them). An in-place layer (top = bottom) sits on its blob's path, so
conv1 -> relu1 -> pool1 reads as a chain. Blobs that no layer reads (the net's outputs) end in
an ellipse, and so do blobs read before any layer writes them (a legacy net's inputs).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from .config import load_net
from .errors import ConfigError, ProtonetError
from .io import atomic_write
from .net import Net
from .net_rules import filter_net, parse_phase
from .proto import pb

RANKDIRS = ("LR", "RL", "TB", "BT")
TEXT_FORMATS = ("dot", "gv")
IMAGE_FORMATS = ("svg", "png", "pdf", "jpg", "jpeg", "gif", "ps", "eps")
COLORS = {"Convolution": "#FF5050", "Deconvolution": "#FF5050", "Pooling": "#FF9900",
          "InnerProduct": "#CC33FF"}
LAYER_COLOR, IN_PLACE_COLOR, BLOB_COLOR = "#6495ED", "#90EE90", "#F0E68C"
WRITE_DOT = "draw to a .dot file instead and render it yourself"


def draw_net(model_path: str | Path, out_path: str | Path, rankdir: str = "LR", phase: str = "TEST") -> str:
    """Draw the net to `out_path`: .dot/.gv as text, .svg/.png/.pdf... rendered by Graphviz's `dot`.

    Without Graphviz the DOT text is written next to `out_path` (same name, .dot) and the message
    returned says how to render it. Returns a one-line description of what was written.
    """
    out = Path(out_path)
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in TEXT_FORMATS + IMAGE_FORMATS:
        raise ConfigError(f"cannot draw to '{out.name}': unknown format '{out.suffix}'",
                          hint="use .dot, .svg or .png")
    param, shapes, note = net_for_drawing(model_path, phase)
    dot = net_to_dot(param, shapes, rankdir)
    note = f" ({note})" if note else ""
    if fmt in TEXT_FORMATS:
        atomic_write(out, dot.encode())
        return f"wrote {out}{note}"
    program = shutil.which("dot")
    if program is None:
        text_path = out.with_suffix(".dot")
        atomic_write(text_path, dot.encode())
        return (f"Graphviz's 'dot' program is not installed: wrote {text_path}{note}; to render it, install "
                f"Graphviz (e.g. apt-get install graphviz) and run `dot -T{fmt} {text_path} -o {out}`")
    atomic_write(out, _render(program, dot, fmt))
    return f"wrote {out}{note}"


def net_for_drawing(model_path: str | Path, phase: str = "TEST") -> tuple[pb.NetParameter, dict | None, str]:
    """The layers of `model_path` in `phase`, the blob shapes (None if the net does not build) and a note."""
    param = load_net(model_path)
    state = pb.NetState(phase=parse_phase(phase))
    try:
        net = Net(param, phase=state.phase, base_dir=Path(model_path).resolve().parent)
    except ProtonetError as exc:
        note = f"without blob shapes: the net does not build in phase {phase.upper()}: {exc.message}"
        return filter_net(param, state), None, note
    return filter_net(param, state), {name: blob.shape for name, blob in net.blobs.items()}, ""


def net_to_dot(param: pb.NetParameter, shapes: dict[str, tuple[int, ...]] | None = None,
               rankdir: str = "LR") -> str:
    """DOT text for the layers of `param`; `shapes` (blob name -> shape) labels the edges when given."""
    if rankdir.upper() not in RANKDIRS:
        raise ConfigError(f"unknown rankdir '{rankdir}'", hint=f"use one of {', '.join(RANKDIRS)}")
    lines = [f"digraph {_quote(param.name or 'Net')} {{", f"  rankdir={rankdir.upper()};",
             '  node [fontname="Helvetica", fontsize=10];', '  edge [fontname="Helvetica", fontsize=8];']
    writer: dict[str, str] = {}  # blob name -> node that last wrote it
    unread: dict[str, str] = {}  # blob name -> that node, while no layer has read it since

    def blob_node(kind: str, name: str) -> str:
        node = f"{kind}:{name}"
        lines.append(f"  {_quote(node)} [label={_quote(name)}, shape=ellipse, style=filled, "
                     f"fillcolor={_quote(BLOB_COLOR)}];")
        return node

    def edge(src: str, dst: str, blob: str) -> None:
        label = blob if shapes is None or blob not in shapes else f"{blob}\n{_shape_text(shapes[blob])}"
        lines.append(f"  {_quote(src)} -> {_quote(dst)} [label={_quote(label)}];")

    for i, layer in enumerate(param.layer):
        node = f"layer{i}:{layer.name}"
        in_place = len(layer.top) == len(layer.bottom) > 0 and list(layer.top) == list(layer.bottom)
        color = IN_PLACE_COLOR if in_place else COLORS.get(layer.type, LAYER_COLOR)
        label = "\n".join(layer_label(layer))
        lines.append(f"  {_quote(node)} [label={_quote(label)}, shape=box, "
                     f"style=\"rounded,filled\", fillcolor={_quote(color)}];")
        for name in layer.bottom:
            if name not in writer:
                writer[name] = blob_node("input", name)
            edge(writer[name], node, name)
            unread.pop(name, None)
        for name in layer.top:
            writer[name] = unread[name] = node
    for name, node in unread.items():
        edge(node, blob_node("output", name), name)
    lines.append("}")
    return "\n".join(lines) + "\n"


def layer_label(layer: pb.LayerParameter) -> list[str]:
    """The lines of a layer's box: name, type, then its key parameters."""
    details = LABELS.get(layer.type)
    return [layer.name, f"({layer.type})", *(details(layer) if details else [])]


def _conv_label(layer: pb.LayerParameter) -> list[str]:
    p = layer.convolution_param
    kernel, stride, pad = (_spatial(p.kernel_size, p, "kernel", "?"), _spatial(p.stride, p, "stride", "1"),
                           _spatial(p.pad, p, "pad", "0"))
    lines = [f"outputs {p.num_output}", f"kernel {kernel}  stride {stride}  pad {pad}"]
    if any(d != 1 for d in p.dilation):
        lines.append(f"dilation {'x'.join(map(str, p.dilation))}")
    if p.group != 1:
        lines.append(f"group {p.group}")
    return lines


def _pool_label(layer: pb.LayerParameter) -> list[str]:
    p = layer.pooling_param
    method = pb.PoolingParameter.PoolMethod.Name(p.pool)
    if p.global_pooling:
        return [f"{method} global"]
    kernel = _spatial([p.kernel_size] if p.HasField("kernel_size") else [], p, "kernel", "?")
    stride = _spatial([p.stride] if p.HasField("stride") else [], p, "stride", "1")
    pad = _spatial([p.pad] if p.HasField("pad") else [], p, "pad", "0")
    return [method, f"kernel {kernel}  stride {stride}  pad {pad}"]


def _spatial(values, p, name: str, default: str) -> str:
    """A 2-D size from `name_h`/`name_w` or the repeated/single field, as '3' or '3x5'."""
    if p.HasField(f"{name}_h") or p.HasField(f"{name}_w"):
        return f"{getattr(p, f'{name}_h')}x{getattr(p, f'{name}_w')}"
    return "x".join(map(str, values)) or default


LABELS: dict[str, Callable[[pb.LayerParameter], list[str]]] = {
    "Convolution": _conv_label,
    "Deconvolution": _conv_label,
    "Pooling": _pool_label,
    "InnerProduct": lambda layer: [f"outputs {layer.inner_product_param.num_output}"],
    "Embed": lambda layer: [f"outputs {layer.embed_param.num_output}"],
    "Dropout": lambda layer: [f"ratio {layer.dropout_param.dropout_ratio:g}"],
    "LRN": lambda layer: [f"local size {layer.lrn_param.local_size}"],
    "Eltwise": lambda layer: [pb.EltwiseParameter.EltwiseOp.Name(layer.eltwise_param.operation)],
    "Concat": lambda layer: [f"axis {layer.concat_param.axis}"],
}


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) if shape else "scalar"


def _quote(text: str) -> str:
    """A DOT string: quotes and backslashes escaped, newlines as DOT's centred line break."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _render(program: str, dot: str, fmt: str) -> bytes:
    try:
        result = subprocess.run([program, f"-T{fmt}"], input=dot.encode(), capture_output=True, check=False,
                                timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProtonetError(f"Graphviz's 'dot' could not run: {exc}", hint=WRITE_DOT) from None
    if result.returncode != 0:
        lines = result.stderr.decode(errors="replace").strip().splitlines()
        raise ProtonetError(f"Graphviz's 'dot' failed: {lines[0] if lines else f'exit {result.returncode}'}",
                            hint=WRITE_DOT)
    return result.stdout
