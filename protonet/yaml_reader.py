"""YAML configs: parsed by libyaml where PyYAML has it, checked plain (no tags, bounded aliases), composed
from the files they `include:`, and walked against the message descriptors to fill a message.

Composition, as Hydra's and MMEngine's configs compose: a mapping's `include:` (a file or a list of
files, relative to the including file; YAML only) gives the base, and the including file's own keys
override it: mappings merge key by key, a list of named mappings (a net's `layer:` list) merges by
`name` (a layer of the same name is merged into the base's, in its place; others are appended), any
other value is replaced. Errors name the file a node came from.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import descriptor
from google.protobuf.message import Message

from .errors import ConfigError, did_you_mean
from .forks import unknown_hint

FD = descriptor.FieldDescriptor
YAML_TAGS = "tag:yaml.org,2002:"
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser where PyYAML has it: ~10x faster
MAX_ALIAS_NODES = 1_000_000  # nodes that aliases (*name) may add: a few kB must not expand to gigabytes
MAX_INCLUDE_DEPTH = 16


def compose(text: str, file: str, read: Callable[[str], str]) -> yaml.Node | None:
    """The checked node tree of YAML `text` from `file`, with its includes (read by `read`) merged in."""
    return _compose(text, file, read, ())


def _compose(text: str, file: str, read: Callable[[str], str], chain: tuple[str, ...]) -> yaml.Node | None:
    stream = io.StringIO(text)
    stream.name = file  # marks carry it: errors in an included file name that file
    try:
        node = yaml.compose(stream, Loader=SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"malformed YAML: {getattr(exc, 'problem', exc)}", file=file,
                          line=mark.line + 1 if mark else None) from None
    except RecursionError:
        raise ConfigError("malformed YAML: nested too deeply", file=file) from None
    if node is None:
        return None
    check_plain_yaml(node, file)
    return _with_includes(node, file, read, chain)


def _with_includes(node: yaml.Node, file: str, read: Callable[[str], str], chain: tuple[str, ...]) -> yaml.Node:
    if not isinstance(node, yaml.MappingNode):
        return node
    entry = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == "include"), None)
    if entry is None:
        return node
    key, value = entry
    names = value.value if isinstance(value, yaml.SequenceNode) else [value]
    folder = Path.cwd() if file.startswith("<") else Path(file).parent
    base: yaml.Node | None = None
    for name in names:
        line = name.start_mark.line + 1
        if not isinstance(name, yaml.ScalarNode) or not name.value:
            raise ConfigError("include: expects a file name or a list of file names", file=file, line=line)
        path = str(folder / name.value)
        if Path(path).suffix.lower() not in (".yaml", ".yml"):
            raise ConfigError(f"include: '{name.value}' is not a YAML file", file=file, line=line,
                              hint=f"convert it first: protonet convert {name.value} "
                                   f"{Path(name.value).with_suffix('.yaml')}")
        trail = (*chain, file)
        if any(Path(path).resolve() == Path(seen).resolve() for seen in trail if not seen.startswith("<")):
            cycle = " -> ".join([*trail, path])
            raise ConfigError(f"include: the files include each other ({cycle})", file=file, line=line)
        if len(trail) >= MAX_INCLUDE_DEPTH:
            raise ConfigError(f"include: more than {MAX_INCLUDE_DEPTH} files deep", file=file, line=line)
        included = _compose(read(path), path, read, trail)
        if included is not None and not isinstance(included, yaml.MappingNode):
            raise ConfigError("include: the included file is not a mapping of fields", file=path)
        base = included if base is None else merge(base, included) if included is not None else base
    own = yaml.MappingNode(node.tag, [(k, v) for k, v in node.value if k is not key], node.start_mark,
                           node.end_mark)
    return own if base is None else merge(base, own)


def merge(base: yaml.Node, over: yaml.Node) -> yaml.Node:
    """`over` laid on `base`: mappings key by key, lists of named mappings by name, else `over`."""
    if isinstance(base, yaml.MappingNode) and isinstance(over, yaml.MappingNode):
        pairs = list(base.value)
        where = {k.value: i for i, (k, _) in enumerate(pairs) if isinstance(k, yaml.ScalarNode)}
        for k, v in over.value:
            i = where.get(k.value) if isinstance(k, yaml.ScalarNode) else None
            if i is None:
                pairs.append((k, v))
            else:
                pairs[i] = (pairs[i][0], merge(pairs[i][1], v))
        return yaml.MappingNode(base.tag, pairs, over.start_mark, over.end_mark)
    if _named(base) and _named(over):
        layers = {_name(item): item for item in base.value}
        for item in over.value:
            name = _name(item)
            layers[name] = merge(layers[name], item) if name in layers else item
        return yaml.SequenceNode(base.tag, list(layers.values()), over.start_mark, over.end_mark)
    return over


def _name(node: yaml.MappingNode) -> str | None:
    return next((v.value for k, v in node.value if k.value == "name" and isinstance(v, yaml.ScalarNode)), None)


def _named(node: yaml.Node) -> bool:
    """A list whose items are all mappings with a distinct `name`."""
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        return False
    names = [_name(item) if isinstance(item, yaml.MappingNode) else None for item in node.value]
    return None not in names and len(set(names)) == len(names)


def check_plain_yaml(root: yaml.Node, file: str) -> None:
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


class YamlFiller:
    """Walks a YAML node tree against a message descriptor, remembering lines for errors."""

    def __init__(self, file: str) -> None:
        self.file = file

    def error(self, message: str, node: yaml.Node, layer: str | None, hint: str | None = None) -> ConfigError:
        mark = node.start_mark  # None: a node made here (--set '')
        file = mark.name if mark and not mark.name.startswith("<") else self.file  # an included file's name
        return ConfigError(message, file=file, line=mark.line + 1 if mark else None, layer=layer, hint=hint)

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
                                 key_node, layer, unknown_hint(name, desc.fields_by_name))
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
        plain = not node.style  # None from PyYAML's parser, "" from libyaml's; quoted '' is a value
        if plain and (text == "" or (node.tag.endswith(":null") and text in ("~", "null"))):
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


def _enum_hint(field: FD, text: str) -> str | None:
    if field.type != FD.TYPE_ENUM:
        return None
    return did_you_mean(text, field.enum_type.values_by_name)


