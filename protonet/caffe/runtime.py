"""pycaffe's process-wide calls: modes and devices (protonet runs on the CPU), the seed, layer types.

`set_mode_gpu()` and `set_device(n)` are accepted so that scripts run unchanged; each prints a
one-line note, once, that protonet runs on the CPU. `Layer` is the base class pycaffe's Python
layers derive from (the net still runs them only after `allow_python_layers()`).
"""

from __future__ import annotations

import logging

from ..layers.python import allow_python_layers
from ..layers.registry import layer_types

log = logging.getLogger("protonet")

_state: dict[str, object] = {"seed": None, "noted": set()}


def _note(call: str) -> None:
    noted = _state["noted"]
    if call not in noted:
        noted.add(call)
        log.warning("Note: protonet runs on the CPU (numpy); caffe.%s is ignored", call)


def set_mode_cpu() -> None:
    """The only mode protonet has."""


def set_mode_gpu() -> None:
    """Accepted; protonet runs on the CPU (a one-line note, once)."""
    _note("set_mode_gpu()")


def set_device(device_id: int) -> None:
    """Accepted; protonet runs on the CPU (a one-line note, once)."""
    _note(f"set_device({device_id})")


def check_mode_cpu() -> bool:
    return True


def check_mode_gpu() -> bool:
    return False


def set_random_seed(seed: int) -> None:
    """Seed the fillers (and other randomness) of the nets made from now on by caffe.Net."""
    _state["seed"] = int(seed)


def seed() -> int | None:
    """The seed set by set_random_seed, or None."""
    return _state["seed"]


def layer_type_list() -> list[str]:
    """The layer types protonet implements, by name."""
    return list(layer_types())


class Layer:
    """Base class of a Python layer: override setup, reshape, forward and backward. protonet sets
    `param_str`, `phase` and `blobs` on the instance before setup, as pycaffe does."""

    param_str = ""
    phase = 0

    def setup(self, bottom: list, top: list) -> None:
        """Read param_str, check the bottoms (once)."""

    def reshape(self, bottom: list, top: list) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define reshape(bottom, top)")

    def forward(self, bottom: list, top: list) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define forward(bottom, top)")

    def backward(self, top: list, propagate_down: list, bottom: list) -> None:
        """No gradient unless overridden."""


__all__ = ["Layer", "allow_python_layers", "check_mode_cpu", "check_mode_gpu", "layer_type_list", "seed",
           "set_device", "set_mode_cpu", "set_mode_gpu", "set_random_seed"]
