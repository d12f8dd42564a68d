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
from .forks import unknown_hint
from .io import open_regular
from .proto import pb
from .yaml_reader import SafeLoader, YamlFiller, check_plain_yaml, compose

M = TypeVar("M", bound=Message)
FD = descriptor.FieldDescriptor

YAML_SUFFIXES = (".yaml", ".yml")
TEXT_SUFFIXES = (".prototxt", ".pbtxt", ".txt")

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
        node = compose(text, file, read_text)
        if node is not None:
            YamlFiller(file).fill(message, node, None)
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
        hint = unknown_hint(name, fields)
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
    """Apply `path=value` (dotted path, YAML value) to `message`, e.g. ``base_lr=0.001``; an item of a
    repeated message is picked by name or index: ``layer[conv1].convolution_param.num_output=32``."""
    *parents, last = path.split(".")
    target = message
    for part in parents:
        target = _child(target, part, file)
    field = target.DESCRIPTOR.fields_by_name.get(last)
    if field is None:
        raise ConfigError(f"unknown field '{last}' in {target.DESCRIPTOR.name}", file=file,
                          hint=unknown_hint(last, target.DESCRIPTOR.fields_by_name))
    try:
        node = yaml.compose(value, Loader=SafeLoader) or yaml.ScalarNode("tag:yaml.org,2002:str", "")
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot parse value '{value}' of {path}: {exc}", file=file) from None
    check_plain_yaml(node, file)
    target.ClearField(last)
    YamlFiller(file).fill_field(target, field, node, None)


_SELECTED = re.compile(r"(\w+)\[([^\]]+)\]")


def _child(message: Message, part: str, file: str) -> Message:
    """The sub-message `part` names: `field`, or `field[name]` / `field[index]` of a repeated one."""
    selected = _SELECTED.fullmatch(part)
    name = selected[1] if selected else part
    field = message.DESCRIPTOR.fields_by_name.get(name)
    problem = (f"unknown field '{name}' in {message.DESCRIPTOR.name}" if field is None
               else f"'{name}' is not a message" if field.type != FD.TYPE_MESSAGE
               else f"'{name}' is a list: pick one with {name}[NAME] or {name}[INDEX]" if field.is_repeated
               and not selected
               else f"'{name}' is not a list" if selected and not field.is_repeated else None)
    if problem:
        raise ConfigError(problem, file=file, hint=did_you_mean(name, message.DESCRIPTOR.fields_by_name))
    if not selected:
        return getattr(message, name)
    items, key = getattr(message, name), selected[2]
    if re.fullmatch(r"\d+", key):
        if int(key) < len(items):
            return items[int(key)]
        raise ConfigError(f"{name}[{key}]: there are {len(items)} {name} entries", file=file)
    named = [item for item in items if getattr(item, "name", None) == key]
    if not named:
        names = [item.name for item in items if getattr(item, "name", "")]
        raise ConfigError(f"no {name} named '{key}'", file=file, hint=did_you_mean(key, names))
    return named[-1]
