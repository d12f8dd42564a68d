"""Nets written in Python, as Caffe's net_spec.py: `caffe.NetSpec`, `caffe.layers as L`, `caffe.params as P`.

    n = caffe.NetSpec()
    n.data, n.label = L.Data(source="mnist:train", batch_size=64, ntop=2, transform_param=dict(scale=1/255))
    n.conv1 = L.Convolution(n.data, kernel_size=5, num_output=20, weight_filler=dict(type="xavier"))
    n.pool1 = L.Pooling(n.conv1, kernel_size=2, stride=2, pool=P.Pooling.MAX)
    n.relu1 = L.ReLU(n.pool1, in_place=True)
    str(n.to_proto())   # prototxt

Caffe's rules: `L.Type(*bottoms, **params)` makes a layer; `ntop` (default 1) is its number of
tops, `in_place=True` writes its top over its first bottom; a keyword ending in `param` is a
field of the layer (`param=[dict(lr_mult=1)]`, `transform_param=...`), any other goes in the
layer's own `<type>_param` (`kernel_size` in convolution_param) when that message has it, else
in the layer; lists become repeated fields, dicts messages. Layers and tops are named by the
NetSpec attribute they were assigned to; unnamed ones get Caffe's automatic names (type + count,
e.g. `Convolution1`). `P.Pooling.MAX` is the enum value PoolingParameter.MAX.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable
from typing import Any

from google.protobuf.message import Message

from ..proto import pb


def param_name_dict() -> dict[str, str]:
    """Layer type -> the prefix of its parameter field: 'Convolution' -> 'convolution' (from the schema's
    `<x>_param` fields of type `<Y>Parameter`, as Caffe derives it)."""
    fields = [f for f in pb.LayerParameter.DESCRIPTOR.fields if f.name.endswith("_param") and f.message_type]
    return {f.message_type.name.removesuffix("Parameter"): f.name.removesuffix("_param") for f in fields}


_PARAM_NAMES = param_name_dict()


def assign_proto(proto: Message, name: str, value: Any) -> None:
    """Set field `name` of `proto` from a Python value: lists fill repeated fields (dicts in them become
    messages), dicts fill messages, a single value given for a repeated field becomes a list of one."""
    field = getattr(proto, name)
    if hasattr(field, "extend") and not isinstance(value, list):
        value = [value]
    if isinstance(value, list):
        if value and isinstance(value[0], dict):
            for item in value:
                message = field.add()
                for key, sub in item.items():
                    assign_proto(message, key, sub)
        else:
            field.extend(value)
    elif isinstance(value, dict):
        for key, sub in value.items():
            assign_proto(field, key, sub)
    else:
        setattr(proto, name, value)


class Top:
    """One output blob of a layer (the n-th top of Function `fn`)."""

    def __init__(self, fn: Function, n: int) -> None:
        self.fn = fn
        self.n = n

    def to_proto(self) -> pb.NetParameter:
        """A NetParameter of every layer needed to compute this top."""
        return to_proto(self)

    def _to_proto(self, layers: OrderedDict, names: dict, autonames: Counter) -> None:
        self.fn._to_proto(layers, names, autonames)


class Function:
    """A layer: its type, its bottoms (Tops) and its parameters."""

    def __init__(self, type_name: str, inputs: tuple, params: dict[str, Any]) -> None:
        self.type_name = type_name
        for index, value in enumerate(inputs):
            if not isinstance(value, Top):
                raise TypeError(f"{type_name} input {index} is not a Top (type is {type(value)})")
        self.inputs = inputs
        self.params = dict(params)
        self.ntop = self.params.pop("ntop", 1)
        self.in_place = self.params.pop("in_place", False)
        self.tops = tuple(Top(self, n) for n in range(self.ntop))

    def _get_name(self, names: dict, autonames: Counter) -> str:
        if self not in names:
            names[self] = (self._get_top_name(self.tops[0], names, autonames) if self.ntop > 0
                           else _autoname(self.type_name, autonames))
        return names[self]

    @staticmethod
    def _get_top_name(top: Top, names: dict, autonames: Counter) -> str:
        if top not in names:
            names[top] = _autoname(top.fn.type_name, autonames)
        return names[top]

    def _to_proto(self, layers: OrderedDict, names: dict, autonames: Counter) -> None:
        if self in layers:
            return
        bottoms = []
        for value in self.inputs:
            value._to_proto(layers, names, autonames)
            bottoms.append(layers[value.fn].top[value.n])
        layer = pb.LayerParameter(type=self.type_name, bottom=bottoms)
        if self.in_place:
            layer.top.extend(layer.bottom)
        else:
            layer.top.extend(self._get_top_name(top, names, autonames) for top in self.tops)
        layer.name = self._get_name(names, autonames)
        for key, value in self.params.items():
            if key.endswith("param"):
                assign_proto(layer, key, value)
                continue
            try:
                assign_proto(getattr(layer, _PARAM_NAMES[self.type_name] + "_param"), key, value)
            except (AttributeError, KeyError):
                assign_proto(layer, key, value)
        layers[self] = layer


def _autoname(type_name: str, autonames: Counter) -> str:
    autonames[type_name] += 1
    return f"{type_name}{autonames[type_name]}"


def to_proto(*tops: Top) -> pb.NetParameter:
    """A NetParameter of every layer needed to compute `tops`, with automatic names."""
    return _net_of(tops, names=None)


def _net_of(tops: Iterable[Top | Function], names: dict | None) -> pb.NetParameter:
    """The layers needed to compute `tops`, in order: named by `names` (Top or Function -> name), else
    each top's layers named afresh, automatic names counting across them all."""
    layers: OrderedDict = OrderedDict()
    autonames: Counter = Counter()
    for top in tops:
        top._to_proto(layers, {} if names is None else names, autonames)
    return pb.NetParameter(layer=list(layers.values()))


class NetSpec:
    """Tops assigned as attributes (`n.conv1 = L.Convolution(...)`) or items; `to_proto()` makes the
    NetParameter of every layer they need, named by those attributes."""

    def __init__(self) -> None:
        super().__setattr__("tops", OrderedDict())

    def __setattr__(self, name: str, value: Top | Function) -> None:
        self.tops[name] = value

    def __getattr__(self, name: str) -> Top | Function:
        try:
            return self.tops[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setitem__(self, name: str, value: Top | Function) -> None:
        self.tops[name] = value

    def __getitem__(self, name: str) -> Top | Function:
        return self.tops[name]

    def __delitem__(self, name: str) -> None:
        del self.tops[name]

    def keys(self) -> list[str]:
        return list(self.tops)

    def vals(self) -> list[Top | Function]:
        return list(self.tops.values())

    def to_proto(self) -> pb.NetParameter:
        return _net_of(self.tops.values(), names={value: name for name, value in self.tops.items()})


class Layers:
    """`L.Convolution(bottom, kernel_size=3)`: a layer of any type; returns its Top, its tuple of
    Tops (ntop > 1), or the layer itself (ntop = 0)."""

    def __getattr__(self, type_name: str):
        def layer(*inputs: Top, **params: Any) -> Top | tuple[Top, ...] | Function:
            fn = Function(type_name, inputs, params)
            if fn.ntop == 0:
                return fn
            return fn.tops[0] if fn.ntop == 1 else fn.tops

        return layer


class Parameters:
    """`P.Pooling.MAX`: the enum values of `<Type>Parameter` messages."""

    def __getattr__(self, type_name: str) -> Any:
        try:
            return getattr(pb, type_name + "Parameter")
        except AttributeError:
            raise AttributeError(f"the schema has no message {type_name}Parameter") from None


layers = Layers()
params = Parameters()
