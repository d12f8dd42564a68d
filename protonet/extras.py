"""Optional packages: imported when a feature needs them, else one error naming the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import ConfigError


def require(module: str, extra: str, message: str, *, hint: str | None = None) -> ModuleType:
    """`module`, imported; when it is missing, a ConfigError with `message` and the hint
    `pip install protonet[EXTRA]` (or `hint`)."""
    found = optional(module)
    if found is None:
        raise ConfigError(message, hint=hint or f"pip install protonet[{extra}]")
    return found


def optional(module: str) -> ModuleType | None:
    """`module`, imported, or None when it is missing: for packages that only speed things up (the caller
    keeps a path without them)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None
