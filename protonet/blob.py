"""Blob: an n-d array of values (`data`) and of gradients (`diff`), as in Caffe."""

from __future__ import annotations

import math
import os

import numpy as np

from .errors import ConfigError, ProtonetError

MAX_ELEMENTS = 2**31  # default limit of elements per array; $PROTONET_MAX_ELEMENTS overrides it
LIMIT_VARIABLE = "PROTONET_MAX_ELEMENTS"


def max_elements() -> int:
    """The most elements one blob (or work array) may hold: $PROTONET_MAX_ELEMENTS, else MAX_ELEMENTS."""
    text = os.environ.get(LIMIT_VARIABLE, "").strip()
    if not text:
        return MAX_ELEMENTS
    try:
        limit = int(text)
    except ValueError:
        limit = 0
    if limit <= 0:
        raise ConfigError(f"{LIMIT_VARIABLE} must be a positive integer, found '{text}'",
                          hint=f"unset it to use the default of {MAX_ELEMENTS}")
    return limit


def check_shape(shape: tuple[int, ...], what: str = "blob", error: type[ProtonetError] = ConfigError, *,
                file: str | None = None, layer: str | None = None) -> tuple[int, ...]:
    """Validate a shape before anything of it is allocated: non-negative dims, at most max_elements().
    Faults are `error`s naming `file` and `layer` when given."""
    shape = tuple(int(d) for d in shape)
    if any(d < 0 for d in shape):
        raise error(f"{what} shape {list(shape)} has a negative dimension", file=file, layer=layer)
    limit = max_elements()
    if math.prod(d or 1 for d in shape) > limit:  # zero dims skipped: numpy refuses those shapes too
        raise error(f"{what} shape {list(shape)} exceeds the limit of {limit} elements per array", file=file,
                    layer=layer, hint=f"set {LIMIT_VARIABLE} (or --max-elements) higher if this is intended")
    return shape


class Blob:
    """Data and gradient arrays of one shape; `reshape` reallocates only when the shape changes."""

    def __init__(self, shape: tuple[int, ...] = (), dtype: np.dtype | type = np.float32) -> None:
        self.dtype = np.dtype(dtype)
        self._data = np.zeros(check_shape(shape), self.dtype)
        self._diff: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def count(self) -> int:
        return self._data.size

    @property
    def num_axes(self) -> int:
        return self._data.ndim

    @property
    def data(self) -> np.ndarray:
        return self._data

    @data.setter
    def data(self, value: np.ndarray) -> None:
        value = np.asarray(value, dtype=self.dtype)
        if value.shape != self.shape:
            value = value.reshape(self.shape) if value.size == self.count else np.broadcast_to(value, self.shape)
        self._data[...] = value

    @property
    def diff(self) -> np.ndarray:
        if self._diff is None or self._diff.shape != self.shape:
            self._diff = np.zeros(self.shape, self.dtype)
        return self._diff

    @diff.setter
    def diff(self, value: np.ndarray) -> None:
        self.diff[...] = value

    def reshape(self, *shape: int) -> None:
        """Give the blob a new shape; contents are kept only when the shape is unchanged."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        if shape == self.shape:  # the steady state: nothing to check or allocate
            return
        shape = check_shape(shape)
        if shape != self.shape:
            self._data = np.zeros(shape, self.dtype)
            self._diff = None

    def reshape_like(self, other: Blob) -> None:
        self.reshape(other.shape)

    def share_data(self, other: Blob) -> None:
        """Use `other`'s arrays (shared parameters, test nets sharing train weights)."""
        self._data = other._data
        self._diff = other.diff

    def axis(self, index: int) -> int:
        """Canonical (non-negative) index of axis `index`, which may count from the end."""
        if not -self.num_axes <= index < max(self.num_axes, 1):
            raise ConfigError(f"axis {index} out of range for a {self.num_axes}-axis blob {list(self.shape)}")
        return index % max(self.num_axes, 1)

    def __repr__(self) -> str:
        return f"Blob(shape={list(self.shape)}, dtype={self.dtype})"
