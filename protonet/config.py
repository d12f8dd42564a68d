"""Load and save nets and solvers as prototxt (protobuf text format) or YAML.

Both syntaxes fill the very same message classes (`protonet.proto.pb`): YAML is walked
against the message descriptors, so the schema is never written twice. Every error
names the file, the line, the layer and the field, with the nearest valid name.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import yaml
from google.protobuf import descriptor, text_format
from google.protobuf.message import Message

from .errors import ConfigError, ProtonetError, StorageError, did_you_mean
from .io import open_regular
from .proto import pb

M = TypeVar("M", bound=Message)
FD = descriptor.FieldDescriptor

YAML_SUFFIXES = (".yaml", ".yml")
TEXT_SUFFIXES = (".prototxt", ".pbtxt", ".txt")

# Fields and layer types from Caffe forks that protonet does not support.
FORKS = {
    "SSD (weiliu89/caffe)": [
        "permute_param", "prior_box_param", "detection_output_param", "detection_evaluate_param",
        "multibox_loss_param", "annotated_data_param", "norm_param", "video_data_param",
        "resize_param", "noise_param", "distort_param", "expand_param", "emit_constraint",
        "eval_type", "ap_version", "show_per_class_result", "crop_h", "crop_w",
        "Permute", "PriorBox", "DetectionOutput", "DetectionEvaluate", "MultiBoxLoss",
        "AnnotatedData", "Normalize", "VideoData", "SmoothL1Loss",
    ],
    "MobileNet-SSD (chuanqi305)": ["DepthwiseConvolution"],
    "Faster R-CNN (rbgirshick/caffe-fast-rcnn)": ["roi_pooling_param", "ROIPooling", "SmoothL1Loss"],
    "DeepLab (caffe-deeplab)": ["interp_param", "Interp"],
    "PSPNet / SegNet forks": ["bn_param", "BN", "Upsample", "upsample_param"],
    "HED (s9xie/hed)": ["ImageLabelmapData"],
}


def fork_of(name: str) -> str | None:
    """The Caffe fork a field or layer type comes from, if protonet knows it."""
    for fork, names in FORKS.items():
        if name in names:
            return fork
    return None


def syntax_of(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in YAML_SUFFIXES:
        return "yaml"
    if suffix in TEXT_SUFFIXES or suffix == "":
        return "prototxt"
    raise ConfigError(f"unknown config extension '{suffix}'", file=str(path),
                      hint="use .prototxt for protobuf text or .yaml/.yml for YAML")


MAX_CONFIG_BYTES = 4 << 20  # ~17x the largest net in Caffe's model zoos; parsing is ~1.5 s per MiB


def read_text(path: str | Path) -> str:
    """A config file's text, refused before parsing when it is not a regular file or over MAX_CONFIG_BYTES."""
    try:
        with open_regular(path) as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_CONFIG_BYTES:
                raise ConfigError(f"is {size / 2**20:.1f} MiB; config files over {MAX_CONFIG_BYTES >> 20} MiB "
                                  "are refused", file=str(path),
                                  hint="real net and solver files are at most a few hundred KB")
            return handle.read().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=str(path)) from None
    except OSError as exc:
        raise StorageError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None


# ------------------------------------------------------------------ parsing


def parse(text: str, message: M, *, syntax: str = "prototxt", file: str = "<string>") -> M:
    """Fill `message` from prototxt or YAML `text`; errors carry file, line and layer."""
    if syntax == "yaml":
        try:
            node = yaml.compose(text, Loader=SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise ConfigError(f"malformed YAML: {getattr(exc, 'problem', exc)}", file=file,
                              line=mark.line + 1 if mark else None) from None
        except RecursionError:
            raise ConfigError("malformed YAML: nested too deeply", file=file) from None
        if node is not None:
            _check_plain_yaml(node, file)
            _YamlFiller(file).fill(message, node, None)
        return message
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as exc:
        raise _text_error(str(exc), text, file) from None
    return message


def load_net(path: str | Path) -> pb.NetParameter:
    """Read a net definition (prototxt or YAML), upgrading legacy formats."""
    from .upgrade import upgrade_net

    net = parse(read_text(path), pb.NetParameter(), syntax=syntax_of(path), file=str(path))
    return upgrade_net(net, source=str(path))


def load_solver(path: str | Path) -> pb.SolverParameter:
    """Read a solver; relative net paths are resolved against the solver's folder."""
    from .upgrade import upgrade_solver

    solver = parse(read_text(path), pb.SolverParameter(), syntax=syntax_of(path), file=str(path))
    solver = upgrade_solver(solver, source=str(path))
    folder = Path(path).resolve().parent
    if solver.HasField("net"):
        solver.net = resolve_path(solver.net, folder)
    if solver.HasField("train_net"):
        solver.train_net = resolve_path(solver.train_net, folder)
    for i, name in enumerate(solver.test_net):
        solver.test_net[i] = resolve_path(name, folder)
    return solver


def resolve_path(name: str, folder: Path) -> str:
    """`name` relative to `folder` when it exists there, else as given (relative to the cwd)."""
    candidate = Path(name)
    if candidate.is_absolute():
        return name
    beside = folder / candidate
    if beside.exists() or not candidate.exists():
        return str(beside)
    return name


def load_message(path: str | Path, message: M) -> M:
    return parse(read_text(path), message, syntax=syntax_of(path), file=str(path))


# ------------------------------------------------------------------ saving


def to_text(message: Message, syntax: str = "prototxt") -> str:
    if syntax == "yaml":
        return yaml.dump(message_to_dict(message), Dumper=_Dumper, sort_keys=False,
                         default_flow_style=False, width=100)
    return text_format.MessageToString(message)


def save(message: Message, path: str | Path) -> None:
    """Write a message as prototxt or YAML (by extension), atomically."""
    from .io import atomic_write

    atomic_write(path, to_text(message, syntax_of(path)).encode())


def message_to_dict(message: Message) -> dict[str, Any]:
    """Plain data for YAML: enums by name, float32 in its shortest decimal, lists of one as a scalar."""
    out: dict[str, Any] = {}
    for field, value in message.ListFields():
        if field.is_repeated:
            items = [_value_to_plain(field, v) for v in value]
            out[field.name] = items[0] if len(items) == 1 and field.type != FD.TYPE_MESSAGE else items
        else:
            out[field.name] = _value_to_plain(field, value)
    return out


def _value_to_plain(field: FD, value: Any) -> Any:
    if field.type == FD.TYPE_MESSAGE:
        return message_to_dict(value)
    if field.type == FD.TYPE_ENUM:
        return field.enum_type.values_by_number[value].name
    if field.type == FD.TYPE_FLOAT:
        return float(str(np.float32(value)))
    if field.type == FD.TYPE_BYTES:
        raise ConfigError(f"field '{field.name}' holds bytes, which YAML configs do not carry")
    return value


class _Dumper(yaml.SafeDumper):
    """Lists of scalars on one line (`dim: [1, 1, 28, 28]`), everything else in block style."""


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = all(not isinstance(x, (dict, list)) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


# ------------------------------------------------------------------ YAML -> message

YAML_TAGS = "tag:yaml.org,2002:"
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser where PyYAML has it: ~10x faster
MAX_ALIAS_NODES = 1_000_000  # nodes that aliases (*name) may add: a few kB must not expand to gigabytes


def _check_plain_yaml(root: yaml.Node, file: str) -> None:
    """Refuse tags of other types (`!!python/object/apply:...`, `!local`) and aliases that refer to
    themselves or add more than MAX_ALIAS_NODES nodes (the "billion laughs"); nothing is built from them."""
    expanded: dict[int, int] = {}  # id(node) -> its node count with aliases expanded
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else \
            node.value if isinstance(node, yaml.SequenceNode) else []
        if finished:
            open_nodes.discard(id(node))
            expanded[id(node)] = 1 + sum(expanded[id(child)] for child in children)
        elif id(node) in open_nodes:
            raise ConfigError("a YAML alias refers to a node that contains it", file=file,
                              line=node.start_mark.line + 1)
        elif id(node) not in expanded:
            if not node.tag.startswith(YAML_TAGS) or node.tag.startswith(YAML_TAGS + "python/"):
                raise ConfigError(f"YAML tag '{node.tag.replace(YAML_TAGS, '!!')}' is not allowed", file=file,
                                  line=node.start_mark.line + 1,
                                  hint="configs hold plain values; protonet builds no objects from tags")
            open_nodes.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in children)
    added = expanded[id(root)] - len(expanded)
    if added > MAX_ALIAS_NODES:
        raise ConfigError(f"YAML aliases add {added} nodes, over the limit of {MAX_ALIAS_NODES}", file=file,
                          hint="repeat the values instead of aliasing aliases")


class _YamlFiller:
    """Walks a YAML node tree against a message descriptor, remembering lines for errors."""

    def __init__(self, file: str) -> None:
        self.file = file

    def error(self, message: str, node: yaml.Node, layer: str | None, hint: str | None = None) -> ConfigError:
        line = node.start_mark.line + 1 if node.start_mark else None  # None: a node made here (--set '')
        return ConfigError(message, file=self.file, line=line, layer=layer, hint=hint)

    def fill(self, message: Message, node: yaml.Node, layer: str | None, where: str = "") -> None:
        desc = message.DESCRIPTOR
        if not isinstance(node, yaml.MappingNode):
            raise self.error(f"expected a mapping for {where or desc.name}, found {_kind(node)}", node, layer)
        if desc.name in ("LayerParameter", "V1LayerParameter"):
            layer = self._layer_name(node) or layer
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.error(f"expected a field name, found {_kind(key_node)}", key_node, layer)
            name = key_node.value
            field = desc.fields_by_name.get(name)
            if field is None:
                raise self.error(f"unknown field '{name}'" + (f" in {where}" if where else f" in {desc.name}"),
                                 key_node, layer, _unknown_hint(name, desc.fields_by_name))
            self.fill_field(message, field, value_node, layer)

    def fill_field(self, message: Message, field: FD, node: yaml.Node, layer: str | None) -> None:
        if field.is_repeated:
            items = node.value if isinstance(node, yaml.SequenceNode) else [node]
            target = getattr(message, field.name)
            for item in items:
                if field.type == FD.TYPE_MESSAGE:
                    self.fill(target.add(), item, layer, field.name)
                else:
                    target.append(self.scalar(field, item, layer))
        elif field.type == FD.TYPE_MESSAGE:
            self.fill(getattr(message, field.name), node, layer, field.name)
            getattr(message, field.name).SetInParent()
        else:
            setattr(message, field.name, self.scalar(field, node, layer))

    def scalar(self, field: FD, node: yaml.Node, layer: str | None) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(f"field '{field.name}' expects {_type_name(field)}, found {_kind(node)}", node, layer)
        text = node.value
        if field.type == FD.TYPE_MESSAGE:
            raise self.error(f"field '{field.name}' expects a mapping, found '{text}'", node, layer)
        if text == "" or (node.tag.endswith(":null") and node.style is None and text in ("~", "null")):
            raise self.error(f"field '{field.name}' has no value", node, layer)
        try:
            return convert_scalar(field, text)
        except ValueError as exc:
            raise self.error(str(exc), node, layer, _enum_hint(field, text)) from None

    @staticmethod
    def _layer_name(node: yaml.MappingNode) -> str | None:
        for key_node, value_node in node.value:
            if key_node.value == "name" and isinstance(value_node, yaml.ScalarNode):
                return value_node.value
        return None


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_INT_TYPES = {FD.TYPE_INT32, FD.TYPE_INT64, FD.TYPE_UINT32, FD.TYPE_UINT64, FD.TYPE_SINT32,
              FD.TYPE_SINT64, FD.TYPE_FIXED32, FD.TYPE_FIXED64, FD.TYPE_SFIXED32, FD.TYPE_SFIXED64}
_UNSIGNED = {FD.TYPE_UINT32, FD.TYPE_UINT64, FD.TYPE_FIXED32, FD.TYPE_FIXED64}


def convert_scalar(field: FD, text: str) -> Any:
    """The value of `text` for `field`; ValueError says what was expected and found."""
    found = f"found '{text}'"
    if field.type == FD.TYPE_STRING:
        return text
    if field.type == FD.TYPE_BOOL:
        low = text.lower()
        if low in _TRUE or low in _FALSE:
            return low in _TRUE
        raise ValueError(f"field '{field.name}' expects true or false, {found}")
    if field.type == FD.TYPE_ENUM:
        value = field.enum_type.values_by_name.get(text)
        if value is None and re.fullmatch(r"-?\d+", text):
            value = field.enum_type.values_by_number.get(int(text))
        if value is None:
            names = ", ".join(field.enum_type.values_by_name)
            raise ValueError(f"field '{field.name}' expects one of {names}, {found}")
        return value.number
    if field.type in _INT_TYPES:
        if not re.fullmatch(r"[-+]?\d+", text.strip()):
            raise ValueError(f"field '{field.name}' expects an integer, {found}")
        value = int(text)
        if field.type in _UNSIGNED and value < 0:
            raise ValueError(f"field '{field.name}' expects a non-negative integer, {found}")
        bits = 32 if field.type in (FD.TYPE_INT32, FD.TYPE_UINT32, FD.TYPE_SINT32, FD.TYPE_FIXED32,
                                    FD.TYPE_SFIXED32) else 64
        limit = 2**bits if field.type in _UNSIGNED else 2 ** (bits - 1)
        if abs(value) >= limit:
            raise ValueError(f"field '{field.name}' expects a {bits}-bit integer, {found}")
        return value
    if field.type in (FD.TYPE_FLOAT, FD.TYPE_DOUBLE):
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"field '{field.name}' expects a number, {found}") from None
        return value
    raise ValueError(f"field '{field.name}' of type {field.type} is not supported in YAML")


def _type_name(field: FD) -> str:
    if field.type == FD.TYPE_MESSAGE:
        return "a mapping"
    if field.type == FD.TYPE_ENUM:
        return "one of " + ", ".join(field.enum_type.values_by_name)
    return {FD.TYPE_STRING: "a string", FD.TYPE_BOOL: "true or false", FD.TYPE_FLOAT: "a number",
            FD.TYPE_DOUBLE: "a number"}.get(field.type, "an integer")


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return f"'{node.value}'"


def _unknown_hint(name: str, valid: Any) -> str | None:
    fork = fork_of(name)
    if fork:
        return f"'{name}' comes from the Caffe fork {fork}, which protonet does not support"
    return did_you_mean(name, valid)


def _enum_hint(field: FD, text: str) -> str | None:
    if field.type != FD.TYPE_ENUM:
        return None
    return did_you_mean(text, field.enum_type.values_by_name)


# ------------------------------------------------------------------ prototxt errors

_TEXT_ERROR = re.compile(r"^(?:(\d+):(\d+)\s*:\s*)?(.*)$", re.S)
_NO_FIELD = re.compile(r'Message type "([\w.]+)" has no field named "(\w+)"')
_NO_ENUM = re.compile(r'Enum type "([\w.]+)" has no value named (\w+)')


def _text_error(raw: str, text: str, file: str) -> ConfigError:
    match = _TEXT_ERROR.match(raw.strip())
    line = int(match.group(1)) if match.group(1) else None
    detail = match.group(3).strip().rstrip(".")
    layer = _enclosing_layer(text, line) if line else None
    hint = None
    if found := _NO_FIELD.search(detail):
        type_name, name = found.groups()
        desc = pb.DESCRIPTOR.message_types_by_name.get(type_name.split(".")[-1]) or _nested(type_name)
        fields = desc.fields_by_name if desc else {}
        detail = f"unknown field '{name}' in {_field_naming(type_name)}"
        hint = _unknown_hint(name, fields)
    elif found := _NO_ENUM.search(detail):
        enum_name, value = found.groups()
        enum = _find_enum(enum_name)
        names = list(enum.values_by_name) if enum else []
        detail = f"unknown value '{value}' for {enum_name.split('.')[-1]} (expected one of {', '.join(names)})"
        hint = did_you_mean(value, names)
    else:
        detail = f"malformed text: {detail}"
    return ConfigError(detail, file=file, line=line, layer=layer, hint=hint)


def _field_naming(type_name: str) -> str:
    """'protonet.ConvolutionParameter' -> 'convolution_param' (the field that holds it)."""
    short = type_name.split(".")[-1]
    for field in pb.LayerParameter.DESCRIPTOR.fields:
        if field.message_type is not None and field.message_type.name == short:
            return field.name
    return short


def _nested(type_name: str) -> descriptor.Descriptor | None:
    try:
        return pb.DESCRIPTOR.pool.FindMessageTypeByName(type_name)
    except KeyError:
        return None


def _find_enum(enum_name: str) -> descriptor.EnumDescriptor | None:
    try:
        return pb.DESCRIPTOR.pool.FindEnumTypeByName(enum_name)
    except KeyError:
        return None


def layer_line(path: str | Path, layer: str) -> int | None:
    """The line (1-based) of the first `name: LAYER` entry other than the net's own name in a net file,
    prototxt or YAML; None when the file cannot be read or holds no such line."""
    pattern = re.compile(rf"""(^|[\s{{,-])name\s*:\s*(["']?){re.escape(layer)}\2\s*($|[\s,}}#])""")
    try:
        rows = read_text(path).splitlines()
    except ProtonetError:
        return None
    found = [number for number, row in enumerate(rows, 1) if pattern.search(row)]
    in_layers = [number for number in found if not rows[number - 1].startswith("name")]  # not the net's name
    return (in_layers or found or [None])[0]


def _enclosing_layer(text: str, line: int) -> str | None:
    """Name of the `layer { ... }` block that contains `line` (1-based), if any."""
    depth, layer_depth, name = 0, None, None
    for row in text.splitlines()[:line]:
        row = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', lambda m: m.group(0).replace("{", "").replace(
            "}", ""), row.split("#", 1)[0])
        for token in re.finditer(r"\b(layers?)\s*:?\s*\{|\{|\}|\bname\s*:\s*[\"']([^\"']*)[\"']", row):
            if token.group(1):
                depth += 1
                layer_depth, name = depth, None
            elif token.group(0) == "{":
                depth += 1
            elif token.group(0) == "}":
                if depth == layer_depth:
                    layer_depth, name = None, None
                depth -= 1
            elif layer_depth is not None and depth == layer_depth and name is None:
                name = token.group(2)
    return name if layer_depth is not None else None


# ------------------------------------------------------------------ overrides


def set_field(message: Message, path: str, value: str, *, file: str = "--set") -> None:
    """Apply `path=value` (dotted path, YAML value) to `message`, e.g. ``base_lr=0.001``."""
    *parents, last = path.split(".")
    target = message
    for part in parents:
        field = target.DESCRIPTOR.fields_by_name.get(part)
        if field is None or field.type != FD.TYPE_MESSAGE or field.is_repeated:
            raise ConfigError(f"unknown field '{part}' in {target.DESCRIPTOR.name}", file=file,
                              hint=did_you_mean(part, target.DESCRIPTOR.fields_by_name))
        target = getattr(target, part)
    field = target.DESCRIPTOR.fields_by_name.get(last)
    if field is None:
        raise ConfigError(f"unknown field '{last}' in {target.DESCRIPTOR.name}", file=file,
                          hint=_unknown_hint(last, target.DESCRIPTOR.fields_by_name))
    try:
        node = yaml.compose(value, Loader=SafeLoader) or yaml.ScalarNode("tag:yaml.org,2002:str", "")
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot parse value '{value}' of {path}: {exc}", file=file) from None
    _check_plain_yaml(node, file)
    target.ClearField(last)
    _YamlFiller(file).fill_field(target, field, node, None)
