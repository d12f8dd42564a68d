"""One registry: layer type name (Caffe's spelling) -> layer class."""

from __future__ import annotations

import functools
from collections.abc import Callable

from ..errors import ConfigError, did_you_mean

_LAYERS: dict[str, type] = {}


def register(name: str) -> Callable[[type], type]:
    """Class decorator: make the class the implementation of layer type `name`."""

    def decorate(cls: type) -> type:
        if name in _LAYERS:
            raise RuntimeError(f"layer type '{name}' registered twice")
        cls.type = name
        _LAYERS[name] = cls
        return cls

    return decorate


def layer_class(name: str, layer: str | None = None) -> type:
    """The class registered as `name`; a ConfigError with the closest names otherwise."""
    from ..forks import fork_of

    _load_all()
    if name in _LAYERS:
        return _LAYERS[name]
    fork = fork_of(name)
    hint = (f"'{name}' comes from the Caffe fork {fork}, which protonet does not support" if fork
            else did_you_mean(name, _LAYERS) or "run 'protonet layers' to list the types")
    raise ConfigError(f"unknown layer type '{name}'", layer=layer, hint=hint)


def layer_types() -> dict[str, str]:
    """Registered type names and their one-line descriptions, sorted by name."""
    _load_all()
    return {name: summary(cls) for name, cls in sorted(_LAYERS.items())}


def summary(cls: type) -> str:
    return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""


@functools.cache
def _load_all() -> None:
    """Import every module of this package once; each layer module registers its class."""
    import importlib
    import pkgutil
    from pathlib import Path

    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        importlib.import_module(f"{__package__}.{module.name}")
