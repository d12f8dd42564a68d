"""Optional packages: imported when a feature needs them, else one error naming the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import ConfigError


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """`module`, imported; a ConfigError "PURPOSE needs the PACKAGE package" with `pip install protonet[EXTRA]`
    when it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        raise ConfigError(f"{purpose} needs the {package} package, which is not installed",
                          hint=f"pip install protonet[{extra}]") from None
