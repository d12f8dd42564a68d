"""One registry: layer type (Caffe's spelling) -> the function that writes such a layer into an ONNX graph."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import ConfigError
from ..layers.base import Layer
from .graph import Graph, Step

Converter = Callable[[Graph, Step], None]
_CONVERTERS: dict[str, Converter] = {}


def converts(*types: str) -> Callable[[Converter], Converter]:
    """Decorator: make the function the converter of the layer types `types`."""

    def decorate(function: Converter) -> Converter:
        for name in types:
            if name in _CONVERTERS:
                raise RuntimeError(f"layer type '{name}' has two ONNX converters")
            _CONVERTERS[name] = function
        return function

    return decorate


def exportable_types() -> list[str]:
    return sorted(_CONVERTERS)


def converter(layer: Layer) -> Converter:
    """The converter of the layer's type; a ConfigError naming the layer and its type when there is none."""
    if layer.type not in _CONVERTERS:
        raise ConfigError(f"type {layer.type} cannot be exported to ONNX", layer=layer.name,
                          hint="the types that can: " + ", ".join(exportable_types()))
    return _CONVERTERS[layer.type]
