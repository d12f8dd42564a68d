"""Compiled pooling passes (the optional `jit` extra: numba), for channels-last arrays.

Pooling in numpy is a few passes over memory per window offset; a compiled loop reads each input once
and writes each output once, with the same results: the same window scan in the same row-major offset
order, elements beyond the input read as `fill` (MAX) or zero (AVE), the first maximum by a strict `>`
(Caffe's rule), the same argmax offsets i*kw + j, sums in the same order. protonet.ops.pool runs these
for overlapping windows when numba is installed and both arrays are channels-last (the layout the Net
gives the activations of convolution, pooling and ReLU layers), else its numpy passes, the reference
the tests compare these with. PROTONET_JIT=0 turns them off.

Every array here is a 4-D view indexed (N, H, W, C) (`nhwc`), so that the innermost loop runs over the
channels, contiguous in memory. Measured on CIFAR-10 quick's pool1 (MAX 3x3 stride 2, 100x32x32x32,
one core, a busy machine, CPU time): forward with argmax 12.0 ms in numpy, 2.4 ms here; backward 4.9
and 3.8 ms. The first call in a fresh environment compiles the kernels, once: numba caches them on
disk (CIFAR-10 quick's first step: 5.2 s, then 0.57 s in later processes, 0.23 s without numba).
Importing numba (and LLVM) adds about 125 MB of peak RSS: ops.pool imports it only when a call can use
these passes.
"""

from __future__ import annotations

import os
from functools import cache

import numpy as np

from ..extras import optional

VARIABLE = "PROTONET_JIT"
_state = {"enabled": os.environ.get(VARIABLE, "1").strip() != "0"}


def nhwc(array: np.ndarray) -> np.ndarray:
    """An (N, C, H, W) array's view indexed (N, H, W, C)."""
    return array.transpose(0, 2, 3, 1)


def set_enabled(flag: bool) -> None:
    """Use the compiled passes (where numba is installed) or not, from now on."""
    _state["enabled"] = flag


def enabled() -> bool:
    """Whether the compiled passes run: numba importable and not turned off."""
    return _state["enabled"] and kernels() is not None


def version() -> str | None:
    """numba's version when the compiled passes run, else None (for reports)."""
    return optional("numba").__version__ if enabled() else None


@cache
def kernels() -> dict | None:
    """The compiled functions by name, or None without numba (compiled, or loaded from numba's cache,
    on first use)."""
    numba = optional("numba")
    if numba is None:
        return None
    compiled = numba.njit(cache=True, nogil=True)
    return {name: compiled(function) for name, function in
            (("max_forward", _max_forward), ("max_backward", _max_backward),
             ("ave_forward", _ave_forward), ("ave_backward", _ave_backward))}


def _max_forward(x, y, arg, kh, kw, sh, sw, ph, pw, fill):  # pragma: no cover (compiled)
    """y = the window's maximum, arg = the offset i*kw + j of its first occurrence (row-major scan, strict
    `>`); an element beyond the input reads as `fill`. arg may be None (no argmax kept)."""
    n, height, width, channels = x.shape
    beyond = np.full(channels, fill, x.dtype)
    for b in range(n):
        for p in range(y.shape[1]):
            for q in range(y.shape[2]):
                out = y[b, p, q]
                for i in range(kh):
                    h = p * sh - ph + i
                    for j in range(kw):
                        w = q * sw - pw + j
                        k = i * kw + j
                        v = x[b, h, w] if 0 <= h < height and 0 <= w < width else beyond
                        if k == 0:
                            out[:] = v
                            if arg is not None:
                                arg[b, p, q] = 0
                        elif arg is None:
                            for c in range(channels):
                                out[c] = max(out[c], v[c])
                        else:
                            chosen = arg[b, p, q]
                            for c in range(channels):
                                greater = v[c] > out[c]
                                out[c] = v[c] if greater else out[c]
                                chosen[c] = k if greater else chosen[c]


def _max_backward(dy, arg, dx, kh, kw, sh, sw, ph, pw):  # pragma: no cover (compiled)
    """dx = 0, then dx[chosen element] += dy per window, in the windows' memory order (np.add.at's)."""
    n, height, width, channels = dx.shape
    dx[...] = 0
    for b in range(n):
        for p in range(dy.shape[1]):
            for q in range(dy.shape[2]):
                for c in range(channels):
                    k = arg[b, p, q, c]
                    h, w = p * sh - ph + k // kw, q * sw - pw + k % kw
                    if 0 <= h < height and 0 <= w < width:
                        dx[b, h, w, c] += dy[b, p, q, c]


def _ave_forward(x, y, inverse_area, kh, kw, sh, sw, ph, pw):  # pragma: no cover (compiled)
    """y = (the window's sum, offset by offset, beyond the input zero) * inverse_area[p, q]."""
    n, height, width, channels = x.shape
    for b in range(n):
        for p in range(y.shape[1]):
            for q in range(y.shape[2]):
                out = y[b, p, q]
                out[:] = 0
                for i in range(kh):
                    h = p * sh - ph + i
                    for j in range(kw):
                        w = q * sw - pw + j
                        if 0 <= h < height and 0 <= w < width:
                            for c in range(channels):
                                out[c] += x[b, h, w, c]
                for c in range(channels):
                    out[c] *= inverse_area[p, q]


def _ave_backward(dy, inverse_area, dx, kh, kw, sh, sw, ph, pw):  # pragma: no cover (compiled)
    """dx = 0, then dx[window] += dy * inverse_area[p, q] for every window (beyond the input dropped)."""
    n, height, width, channels = dx.shape
    dx[...] = 0
    for b in range(n):
        for p in range(dy.shape[1]):
            for q in range(dy.shape[2]):
                for i in range(kh):
                    h = p * sh - ph + i
                    for j in range(kw):
                        w = q * sw - pw + j
                        if 0 <= h < height and 0 <= w < width:
                            for c in range(channels):
                                dx[b, h, w, c] += dy[b, p, q, c] * inverse_area[p, q]
