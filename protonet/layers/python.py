"""Python: a layer implemented by a user's Python class; it runs only when the user allows it."""

from __future__ import annotations

import importlib
import sys
from typing import Any

from ..errors import ConfigError
from .base import Blobs, Layer, LayerContext
from .registry import register

_allowed = False


def allow_python_layers(allowed: bool = True) -> None:
    """Let nets run code named in their files (`protonet --allow-python-layers`)."""
    global _allowed
    _allowed = allowed


@register("Python")
class Python(Layer):
    """User code: python_param.module / .layer, a class with pycaffe's setup/reshape/forward/backward.

    Refused unless allowed (``--allow-python-layers``), since it imports and runs the module a file
    names. The module is looked up on sys.path and in the net file's folder; the instance gets
    ``param_str``, ``phase`` and ``blobs`` as pycaffe gives them.
    """

    bottoms = (0, None)
    tops = (0, None)

    def __init__(self, param: Any, ctx: LayerContext | None = None) -> None:
        super().__init__(param, ctx)
        p = param.python_param
        if not _allowed:
            raise ConfigError(f"layer type 'Python' would import and run module '{p.module}'; refused",
                              layer=self.name, hint="pass --allow-python-layers if you trust this file")
        self.impl = _load_class(p.module, p.layer, str(self.ctx.base_dir), self.name)()
        self.impl.param_str = p.param_str
        self.impl.phase = self.ctx.phase
        self.impl.blobs = self.blobs

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        self.impl.setup(bottom, top)
        self.blobs = self.impl.blobs

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        self.impl.reshape(bottom, top)

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        self.impl.forward(bottom, top)

    def backward(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        if hasattr(self.impl, "backward"):
            self.impl.backward(top, propagate_down, bottom)


def _load_class(module: str, name: str, folder: str, layer: str) -> type:
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        found = importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"cannot import python_param.module '{module}': {exc}", layer=layer) from None
    finally:
        if added:
            sys.path.remove(folder)
    cls = getattr(found, name, None)
    if cls is None:
        raise ConfigError(f"module '{module}' has no class '{name}'", layer=layer)
    return cls
