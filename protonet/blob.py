"""Blob: an n-d array of values (`data`) and of gradients (`diff`), as in Caffe."""

from __future__ import annotations

import math
import os

import numpy as np

from .errors import ConfigError, ProtonetError

MAX_ELEMENTS = 2**31  # default limit of elements per array; $PROTONET_MAX_ELEMENTS overrides it
LIMIT_VARIABLE = "PROTONET_MAX_ELEMENTS"
MAX_AXES = 32  # Caffe's kMaxBlobAxes


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
    if len(shape) > MAX_AXES:  # first: a shape of millions of axes is neither listed nor multiplied out
        raise error(f"{what} shape has {len(shape)} axes; at most {MAX_AXES} are allowed", file=file, layer=layer,
                    hint="a blob has one axis per dim entry, as in Caffe (kMaxBlobAxes)")
    shape = tuple(int(d) for d in shape)
    if any(d < 0 for d in shape):
        raise error(f"{what} shape {list(shape)} has a negative dimension", file=file, layer=layer)
    limit = max_elements()
    if math.prod(d or 1 for d in shape) > limit:  # zero dims skipped: numpy refuses those shapes too
        raise error(f"{what} shape {list(shape)} exceeds the limit of {limit} elements per array", file=file,
                    layer=layer, hint=f"set {LIMIT_VARIABLE} (or --max-elements) higher if this is intended")
    return shape


def zeros(shape: tuple[int, ...], dtype: np.dtype, channels_last: bool = False) -> np.ndarray:
    """A zero array of `shape`; a 4-D one channels-last in memory when asked: shape (N, C, H, W), laid out
    as (N, H, W, C) (strides (HWC, 1, WC, C)), as PyTorch's channels_last."""
    if channels_last and len(shape) == 4:
        n, c, h, w = shape
        return np.zeros((n, h, w, c), dtype).transpose(0, 3, 1, 2)
    return np.zeros(shape, dtype)


def is_channels_last(array: np.ndarray) -> bool:
    """Whether a 4-D array is laid out (N, H, W, C) in memory, as `zeros(..., channels_last=True)` makes
    them (or a batch slice of one); C-contiguous arrays are not, unless C is 1."""
    return array.ndim == 4 and array.strides[1] == array.itemsize and array.shape[1] > 1


class Blob:
    """Data and gradient arrays of one shape; `reshape` reallocates only when the shape changes.

    The shape is always Caffe's; with `channels_last` (set by the Net on activations that only
    convolution, pooling and ReLU layers touch) a 4-D blob's arrays are laid out (N, H, W, C) in memory.
    """

    def __init__(self, shape: tuple[int, ...] = (), dtype: np.dtype | type = np.float32) -> None:
        self.dtype = np.dtype(dtype)
        self.channels_last = False
        self._data = np.zeros(check_shape(shape), self.dtype)
        self._diff: np.ndarray | None = None
        self._diff_cleared = False  # diff reads as zeros; zeroed on its next use (see clear_diff)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def count(self) -> int:
        return self._data.size

    @property
    def num_axes(self) -> int:
        return self._data.ndim

    def legacy_shape(self, index: int) -> int:
        """Axis `index` of a blob of up to 4 axes, 1 where it has none (Caffe's LegacyShape)."""
        if self.num_axes > 4:
            raise ConfigError(f"a {self.num_axes}-axis blob {list(self.shape)} has no num/channels/height/width",
                              hint="use .shape")
        return self.shape[index] if index < self.num_axes else 1

    num = property(lambda self: self.legacy_shape(0), doc="Axis 0 (pycaffe's num), 1 if absent.")
    channels = property(lambda self: self.legacy_shape(1), doc="Axis 1 (pycaffe's channels), 1 if absent.")
    height = property(lambda self: self.legacy_shape(2), doc="Axis 2 (pycaffe's height), 1 if absent.")
    width = property(lambda self: self.legacy_shape(3), doc="Axis 3 (pycaffe's width), 1 if absent.")

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
            self._diff = np.zeros_like(self._data)  # in the data's memory layout
        elif self._diff_cleared:
            self._diff.fill(0)
        self._diff_cleared = False
        return self._diff

    def clear_diff(self) -> None:
        """Make diff zero: at its next read, or never when `cleared_diff` hands it out to be overwritten."""
        self._diff_cleared = True

    def cleared_diff(self) -> np.ndarray | None:
        """The diff array, to be overwritten whole, when it was cleared and not used since (a gradient
        then goes straight into it, instead of being added to zeros); else None: add to `diff`."""
        if not self._diff_cleared or self._diff is None or self._diff.shape != self.shape:
            return None
        self._diff_cleared = False
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
            self._data = zeros(shape, self.dtype, self.channels_last)
            self._diff = None

    def use_channels_last(self) -> None:
        """Lay the arrays out channels-last from now on (contents are not kept)."""
        self.channels_last = True
        self._data = zeros(self.shape, self.dtype, True)
        self._diff = None

    def reshape_like(self, other: Blob) -> None:
        self.reshape(other.shape)

    def axis(self, index: int) -> int:
        """Canonical (non-negative) index of axis `index`, which may count from the end."""
        if not -self.num_axes <= index < max(self.num_axes, 1):
            raise ConfigError(f"axis {index} out of range for a {self.num_axes}-axis blob {list(self.shape)}")
        return index % max(self.num_axes, 1)

    def __repr__(self) -> str:
        return f"Blob(shape={list(self.shape)}, dtype={self.dtype})"
