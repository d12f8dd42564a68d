"""2-D pooling kernels with Caffe's geometry and tie rules (pooling_layer.cpp / .cu).

Output size per axis: OH = ceil((H + 2*pad - k) / stride) + 1 (floor with round_mode FLOOR); then,
when any pad is non-zero and the last window starts at or beyond H + pad, that window is dropped.
Window (p, q) covers rows p*stride - pad ... p*stride - pad + k - 1, clipped to the input for MAX
and STOCHASTIC. AVE divides by the window clipped to H + pad (padding counts, the overhang beyond
it does not).

Every method works window offset by window offset: for each (i, j) in the kernel one strided slice
x[p*s + i, q*s + j] over all (n, c, p, q) at once, so a 2x2 stride-2 max is the maximum of four
strided quadrants. The input is copied into a bordered buffer only when padding or a ceil overhang
asks for one. MAX keeps, per output, the offset i*kw + j of the FIRST maximum in row-major window
order (Caffe's strict `>` scan), and its backward sends the gradient there only. Overlapping MAX
windows (3x3 stride 2) are scanned separably, rows then columns, and their backward is one np.add.at.
Arrays may be laid out (N, C, H, W) or channels-last (see protonet.blob): the work arrays follow the
input's layout, so every pass runs through memory in order. Overlapping windows on channels-last arrays
run as compiled loops instead where numba is installed (protonet.ops.jit; these passes are the reference
its tests compare with).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..blob import is_channels_last
from . import jit
from .conv import Buffers, Pair
from .jit import nhwc

FLT_MIN = float(np.finfo(np.float32).tiny)  # Caffe's guard in the stochastic test-time divisor


@dataclass(frozen=True)
class PoolGeometry:
    kernel: Pair
    stride: Pair = (1, 1)
    pad: Pair = (0, 0)
    ceil: bool = True

    def output_size(self, height: int, width: int) -> Pair:
        """Caffe's pooled size; may be < 1 when the kernel does not fit the padded input."""
        sizes = []
        for size, k, s, p in zip((height, width), self.kernel, self.stride, self.pad, strict=True):
            span = size + 2 * p - k
            out = (-(-span // s) if self.ceil else span // s) + 1
            if any(self.pad) and (out - 1) * s >= size + p:
                out -= 1
            sizes.append(out)
        return sizes[0], sizes[1]


class Pool2D:
    """MAX, AVE and STOCHASTIC pooling of (N, C, H, W) arrays for one geometry, with reused buffers.

    `argmax` (N, C, OH, OW) holds, after a MAX or training STOCHASTIC forward, the chosen offset in
    each window; the backward of those methods reads it.
    """

    def __init__(self, geometry: PoolGeometry) -> None:
        self.geometry = geometry
        self.buffers = Buffers()  # work arrays in the data's dtype (and flags, offsets)
        self.indices = Buffers()  # flat element indices (np.intp, as np.add.at's fast path wants)
        self.argmax: np.ndarray | None = None
        self.channels_last = False  # the working memory layout: the input's (see _output, _gradient)

    # -- MAX ---------------------------------------------------------------------------------------

    def max_forward(self, x: np.ndarray, y: np.ndarray, with_argmax: bool = True) -> None:
        """y = max over the window; argmax = the offset i*kw + j of its first maximum in row-major order,
        unless `with_argmax` is False (inference: no backward to feed; argmax is then None)."""
        out = self._output(x, y)
        if self._compiled(x, out):
            self.argmax = self._argmax_buffer(out.shape) if with_argmax else None
            jit.kernels()["max_forward"](nhwc(x), nhwc(out), None if self.argmax is None else nhwc(self.argmax),
                                         *self._loop_geometry(), x.dtype.type(self._max_fill(x.dtype)))
        elif with_argmax:
            self._max_with_argmax(x, out)
        else:
            self.argmax = None
            self._max_only(x, out)
        if out is not y:
            np.copyto(y, out)

    def _argmax_buffer(self, shape: tuple[int, ...]) -> np.ndarray:
        return self._buffer("argmax", shape, np.min_scalar_type(self._kernel_count() - 1))

    def _max_with_argmax(self, x: np.ndarray, y: np.ndarray) -> None:
        self.argmax = self._argmax_buffer(y.shape)
        if self._is_global(x):
            flat = x.reshape(*x.shape[:2], -1)
            first = flat.argmax(axis=-1)[..., None]
            self.argmax[...] = first.reshape(y.shape)
            np.copyto(y, np.take_along_axis(flat, first, -1).reshape(y.shape))
            return
        source = self._source(x, self._max_fill(x.dtype))
        if self._overlapping():
            self._max_separable(source, y)
            return
        windows = self._windows(source, y.shape)  # each element in one window at most: offset by offset
        self._maximum(windows, y)
        self._first_equal(windows, y)

    def _max_only(self, x: np.ndarray, y: np.ndarray) -> None:
        """y = max over the window, offset by offset (overlapping windows separably: rows, then columns)."""
        if self._is_global(x):
            np.max(x, axis=(2, 3), keepdims=True, out=y)
            return
        source = self._source(x, self._max_fill(x.dtype))
        if self._overlapping():
            columns, row_shape = self._window_columns(source, y.shape)
            row_max = self._buffer("row_max", row_shape, y.dtype)
            self._maximum(columns, row_max)
            self._maximum(self._window_rows(row_max, y.shape), y)
        else:
            self._maximum(self._windows(source, y.shape), y)

    @staticmethod
    def _maximum(candidates: list[np.ndarray], out: np.ndarray) -> None:
        """out = the elementwise maximum of the candidates."""
        if len(candidates) == 1:
            np.copyto(out, candidates[0])
            return
        np.maximum(candidates[0], candidates[1], out=out)
        for candidate in candidates[2:]:
            np.maximum(out, candidate, out=out)

    def _first_equal(self, windows: list[np.ndarray], y: np.ndarray) -> None:
        """argmax = the first k with windows[k] == y, as d0 (1 + d1 (1 + ... (1 + d[K-2]))) with
        d_k = (windows[k] != y), evaluated from the inside out: 3 passes per offset, 2 of them on bytes
        (2x2 windows: 8 numpy calls instead of 22 for marking each offset's first match; LeNet's pool1 at
        batch 256: 2.0 ms instead of 2.4)."""
        arg = self.argmax
        if len(windows) == 1:
            arg.fill(0)
            return
        differs = self._buffer("differs", y.shape, bool)
        flags = differs.view(arg.dtype) if arg.itemsize == 1 else differs
        np.not_equal(windows[-2], y, out=differs)
        np.copyto(arg, differs)
        for window in reversed(windows[:-2]):
            arg += 1
            np.not_equal(window, y, out=differs)
            np.multiply(arg, flags, out=arg)

    def _max_separable(self, source: np.ndarray, y: np.ndarray) -> None:
        """The max of overlapping windows, separably: first along each window row (m = max over its kw
        elements, a = the first such j), then over the kh rows of each window (the first row holding the
        maximum wins, with its a): 2 (kw - 1) + 2 (kh - 1) passes instead of 2 kh kw (3x3 stride 2 on
        CIFAR-10 quick: 7.0 ms instead of 8.0)."""
        columns, row_shape = self._window_columns(source, y.shape)
        row_max = self._buffer("row_max", row_shape, y.dtype)
        row_arg = self._buffer("row_arg", row_shape, self.argmax.dtype)
        self._first_max(columns, row_max, row_arg, lambda j, _: j)
        kw, index, arg_rows = self.geometry.kernel[1], self.argmax.dtype.type, self._window_rows(row_arg, y.shape)

        def offset(i: int, scratch: np.ndarray) -> np.ndarray:  # i*kw + a increases with i, as required
            return np.add(arg_rows[i], index(i * kw), out=scratch)

        self._first_max(self._window_rows(row_max, y.shape), y, self.argmax, offset)

    def _window_columns(self, source: np.ndarray, out_shape: tuple[int, ...]) -> tuple[list[np.ndarray], tuple]:
        """The separable scan's first stage: for each j, source[:, :, r, q*sw + j] over every row r the windows
        span; and the shape (N, C, rows, OW) of what it reduces to."""
        (kh, kw), (sh, sw), (oh, ow) = self.geometry.kernel, self.geometry.stride, out_shape[2:]
        rows = (oh - 1) * sh + kh
        return [source[:, :, :rows, j:j + sw * (ow - 1) + 1:sw] for j in range(kw)], (*out_shape[:2], rows, ow)

    def _window_rows(self, rows: np.ndarray, out_shape: tuple[int, ...]) -> list[np.ndarray]:
        """The second stage: for each i, the rows p*sh + i of an array of the first stage's shape."""
        (kh, _), (sh, _), oh = self.geometry.kernel, self.geometry.stride, out_shape[2]
        return [rows[:, :, i:i + sh * (oh - 1) + 1:sh] for i in range(kh)]

    def max_backward(self, dy: np.ndarray, dx: np.ndarray) -> None:
        """dx[chosen element of each window] += dy, the choice being `argmax` of the last forward.

        Overlapping windows: one np.add.at over flat indices (CIFAR-10 quick's 3x3 stride 2: 4.0 ms
        instead of 9.2 for an add per kernel offset into strided windows). Otherwise each input element
        lies in one window at most: per offset, assign dy where it was chosen."""
        dy = self._gradient(dy, dx)
        if self._compiled(dx, dy):
            jit.kernels()["max_backward"](nhwc(dy), nhwc(self.argmax), nhwc(dx), *self._loop_geometry())
            return
        if self._is_global(dx):
            dx.fill(0)
            flat = dx.reshape(*dx.shape[:2], -1)
            np.put_along_axis(flat, self.argmax.reshape(*dx.shape[:2], 1), dy.reshape(*dx.shape[:2], 1), -1)
            return
        if self._overlapping():  # index and dy share a layout: raveled in memory order, they pair up
            target = self._target(dx) if any(self.geometry.pad) else dx  # unpadded: never chosen beyond
            if target is dx:
                dx.fill(0)
            np.add.at(_memory(target), self._chosen_index(target), np.ravel(dy, order="K"))
            self._crop(target, dx)
            return
        target = self._target(dx)
        chosen = self._buffer("chosen", dy.shape, bool)
        for k, window in enumerate(self._windows(target, dy.shape)):
            np.equal(self.argmax, k, out=chosen)
            np.multiply(dy, chosen, out=window)
        self._crop(target, dx)

    def _chosen_index(self, target: np.ndarray) -> np.ndarray:
        """Index into the memory of `target` (the input gradient or its bordered buffer, in either layout) of
        each window's chosen element, n*s_N + c*s_C + (p*sh + i)*s_H + (q*sw + j)*s_W with the strides s
        in elements and (i, j) from `argmax`; raveled in memory order."""
        s_n, s_c, s_h, s_w = (stride // target.itemsize for stride in target.strides)
        (kw, (sh, sw)), (n, c, oh, ow) = (self.geometry.kernel[1], self.geometry.stride), self.argmax.shape
        base = self.indices.get(("window", target.strides), self.argmax.shape, np.intp,
                                channels_last=self.channels_last, fill=-1)
        if base.flat[0] < 0:  # each window's first element, made once per shape and strides
            np.add((np.arange(n)[:, None] * s_n + np.arange(c) * s_c).reshape(n, c, 1, 1),
                   np.arange(oh)[:, None] * sh * s_h + np.arange(ow) * sw * s_w, out=base)
        offsets = np.arange(self._kernel_count())
        index = self.indices.get("chosen", self.argmax.shape, np.intp, channels_last=self.channels_last)
        flat = np.ravel(index, order="K")  # views of the memory: take runs through it in order
        np.take(offsets // kw * s_h + offsets % kw * s_w, np.ravel(self.argmax, order="K"), out=flat)
        index += base
        return flat

    def _first_max(self, candidates: list[np.ndarray], out: np.ndarray, arg: np.ndarray, index) -> None:
        """out = the maximum of the candidates; arg = index(k) of the first candidate k holding it.

        Branch-free (masked writes are slow on random masks): where candidate k is strictly greater
        than the running maximum, arg = max(arg, index(k)), which is index(k) as long as the indices
        increase with k (here: j, or i*kw + j)."""
        greater = self._buffer(("greater", out.shape), out.shape, bool)
        chosen = self._buffer(("chosen", out.shape), out.shape, arg.dtype)
        scratch = self._buffer(("index", out.shape), out.shape, arg.dtype)
        np.copyto(out, candidates[0])
        np.copyto(arg, index(0, scratch))
        for k, candidate in enumerate(candidates[1:], 1):
            np.greater(candidate, out, out=greater)
            np.maximum(out, candidate, out=out)
            np.multiply(greater.view(arg.dtype) if arg.itemsize == 1 else greater, index(k, scratch),
                        out=chosen)
            np.maximum(arg, chosen, out=arg)

    def mask(self, width: int) -> np.ndarray:
        """Caffe's top mask: the flat index h*W + w in the input plane of each window's chosen element."""
        kw, (sh, sw), (ph, pw) = self.geometry.kernel[1], self.geometry.stride, self.geometry.pad
        oh, ow = self.argmax.shape[2:]
        rows = (np.arange(oh) * sh - ph)[:, None] + self.argmax // kw
        cols = (np.arange(ow) * sw - pw)[None, :] + self.argmax % kw
        return rows * width + cols

    # -- AVE ---------------------------------------------------------------------------------------

    def ave_forward(self, x: np.ndarray, y: np.ndarray) -> None:
        """y = (sum over the window) / (window area clipped to the padded input)."""
        if self._is_global(x):
            np.mean(x, axis=(2, 3), keepdims=True, out=y)
            return
        out = self._output(x, y)
        if self._compiled(x, out):
            jit.kernels()["ave_forward"](nhwc(x), nhwc(out), self._inverse_area(x.shape, x.dtype),
                                         *self._loop_geometry())
            if out is not y:
                np.copyto(y, out)
            return
        source = self._source(x, 0)
        for k, window in enumerate(self._windows(source, out.shape)):
            if k == 0:
                np.copyto(out, window)
            else:
                out += window
        out *= self._inverse_area(x.shape, out.dtype)
        if out is not y:
            np.copyto(y, out)

    def ave_backward(self, dy: np.ndarray, dx: np.ndarray) -> None:
        """dx[window] += dy / area, for every window."""
        if self._is_global(dx):
            np.multiply(dy, 1.0 / (dx.shape[2] * dx.shape[3]), out=dx)
            return
        dy = self._gradient(dy, dx)
        if self._compiled(dx, dy):
            jit.kernels()["ave_backward"](nhwc(dy), self._inverse_area(dx.shape, dy.dtype), nhwc(dx),
                                          *self._loop_geometry())
            return
        scaled = self._buffer("scaled", dy.shape, dy.dtype)
        np.multiply(dy, self._inverse_area(dx.shape, dy.dtype), out=scaled)
        target = self._target(dx)
        overlap = self._overlapping()
        for window in self._windows(target, dy.shape):
            if overlap:
                window += scaled
            else:
                np.copyto(window, scaled)
        self._crop(target, dx)

    # -- STOCHASTIC (Caffe's GPU kernels; no padding) ----------------------------------------------

    def stochastic_forward(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator | None) -> None:
        """Training (rng given): pick element e of the window with probability x_e / sum(window), by
        the first running sum >= u * sum, u ~ U[0, 1); argmax records it. Test (rng None):
        y = sum(x^2) / (FLT_MIN + sum(x))."""
        self.channels_last = False  # random draws in Caffe's element order: (N, C, H, W) work arrays
        source = self._source(x, 0)
        windows = self._windows(source, y.shape)
        total = self._buffer("total", y.shape, y.dtype)
        part = self._buffer("part", y.shape, y.dtype)
        total.fill(0)
        if rng is None:
            y.fill(0)
            for window in windows:
                total += window
                y += np.multiply(window, window, out=part)
            total += FLT_MIN
            y /= total
            return
        for window in windows:
            total += window
        threshold = self._buffer("threshold", y.shape, y.dtype)
        rng.random(out=threshold, dtype=y.dtype)
        threshold *= total
        self.argmax = self._buffer("argmax", y.shape, np.min_scalar_type(self._kernel_count() - 1))
        reached = self._start_marking(y.shape)
        total.fill(0)
        y.fill(0)
        for k, window in enumerate(windows):
            total += window
            np.greater_equal(total, threshold, out=reached)
            np.multiply(window, self._mark_first(k, reached), out=part)
            y += part

    # -- choosing one element per window (branch-free: masked writes are slow on random masks) --------

    def _start_marking(self, shape: tuple[int, ...]) -> np.ndarray:
        """Reset `argmax` and the found flags; returns a boolean scratch array for the candidates."""
        self.argmax.fill(0)
        self._buffer("found", shape, bool).fill(False)
        return self._buffer("candidate", shape, bool)

    def _mark_first(self, k: int, candidate: np.ndarray) -> np.ndarray:
        """Where `candidate` holds and no earlier offset was chosen, choose offset k; returns those places."""
        found = self._buffer("found", candidate.shape, bool)
        np.greater(candidate, found, out=candidate)  # candidate and not found
        found |= candidate
        step = self._buffer("step", candidate.shape, self.argmax.dtype)
        np.multiply(candidate, self.argmax.dtype.type(k), out=step)
        self.argmax += step
        return candidate

    # -- memory layout: the work follows the input's, (N, C, H, W) or channels-last ----------------

    def _output(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Takes x's layout as the working one; returns y, or a buffer in that layout when y's differs
        (the caller copies it into y at the end)."""
        self.channels_last = is_channels_last(x)
        if is_channels_last(y) == self.channels_last:
            return y
        return self._buffer("output", y.shape, y.dtype)

    def _gradient(self, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
        """Takes dx's layout as the working one; returns dy, or a copy of it in that layout."""
        self.channels_last = is_channels_last(dx)
        if is_channels_last(dy) == self.channels_last:
            return dy
        copy = self._buffer("gradient", dy.shape, dy.dtype)
        np.copyto(copy, dy)
        return copy

    def _buffer(self, name: object, shape: tuple[int, ...], dtype: np.dtype | type, fill: float = 0) -> np.ndarray:
        """A kept work array in the working layout."""
        return self.buffers.get(name, shape, dtype, fill, channels_last=self.channels_last)

    # -- the compiled passes (protonet.ops.jit) ----------------------------------------------------

    def _compiled(self, image: np.ndarray, window_side: np.ndarray) -> bool:
        """Whether the compiled passes take this call: overlapping windows (where numpy's passes add up: a
        non-overlapping 2x2 max is four strided passes, as fast as the compiled loop), both arrays
        channels-last, numba there."""
        return (self._overlapping() and is_channels_last(image) and is_channels_last(window_side)
                and not self._is_global(image) and jit.enabled())

    def _loop_geometry(self) -> tuple[int, ...]:
        (kh, kw), (sh, sw), (ph, pw) = self.geometry.kernel, self.geometry.stride, self.geometry.pad
        return kh, kw, sh, sw, ph, pw

    # -- geometry helpers --------------------------------------------------------------------------

    def _max_fill(self, dtype: np.dtype) -> float:
        """What MAX reads beyond the input: -inf for overlapping windows, which always start inside it, so
        that nothing beyond is ever chosen (max_backward then needs no bordered buffer); else Caffe's
        -FLT_MAX start value, which a window wholly beyond the input outputs."""
        return -np.inf if self._overlapping() else float(np.finfo(dtype).min)

    def _overlapping(self) -> bool:
        return any(s < k for s, k in zip(self.geometry.stride, self.geometry.kernel, strict=True))

    def _kernel_count(self) -> int:
        return self.geometry.kernel[0] * self.geometry.kernel[1]

    def _is_global(self, x: np.ndarray) -> bool:
        """One window exactly over the whole plane: reduce the flattened plane instead."""
        return self.geometry.kernel == x.shape[2:] and not any(self.geometry.pad)

    def _extent(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(OH, OW, rows, cols) where rows x cols is the span of all windows, from -pad."""
        (kh, kw), (sh, sw) = self.geometry.kernel, self.geometry.stride
        oh, ow = self.geometry.output_size(height, width)
        if oh < 1 or ow < 1:
            raise ValueError(f"input {height}x{width} is smaller than the {self.geometry.kernel} kernel "
                             f"(with pad {self.geometry.pad})")
        return oh, ow, (oh - 1) * sh + kh, (ow - 1) * sw + kw

    def _needs_buffer(self, height: int, width: int) -> bool:
        _, _, rows, cols = self._extent(height, width)
        return any(self.geometry.pad) or rows > height or cols > width

    def _source(self, x: np.ndarray, fill: float) -> np.ndarray:
        """x itself, or x inside a border of `fill` wide enough for every window (kept between calls)."""
        n, c, h, w = x.shape
        if not self._needs_buffer(h, w):
            return x
        _, _, rows, cols = self._extent(h, w)
        source = self._buffer(("source", fill), (n, c, rows, cols), x.dtype, fill)
        (ph, pw), (rh, rw) = self.geometry.pad, self._inside(h, w, rows, cols)
        source[:, :, ph:ph + rh, pw:pw + rw] = x[:, :, :rh, :rw]
        return source

    def _target(self, dx: np.ndarray) -> np.ndarray:
        """A zeroed gradient array covering every window: dx itself or a bordered buffer."""
        n, c, h, w = dx.shape
        target = dx
        if self._needs_buffer(h, w):
            _, _, rows, cols = self._extent(h, w)
            target = self._buffer("target", (n, c, rows, cols), dx.dtype)
        target.fill(0)
        return target

    def _crop(self, target: np.ndarray, dx: np.ndarray) -> None:
        """dx = the input region of a bordered gradient buffer (zero where no window reaches)."""
        if target is dx:
            return
        h, w = dx.shape[2:]
        (ph, pw), (rh, rw) = self.geometry.pad, self._inside(h, w, *target.shape[2:])
        dx.fill(0)
        dx[:, :, :rh, :rw] = target[:, :, ph:ph + rh, pw:pw + rw]

    def _inside(self, height: int, width: int, rows: int, cols: int) -> Pair:
        """How many input rows and columns lie inside the window span."""
        ph, pw = self.geometry.pad
        return min(height, rows - ph), min(width, cols - pw)

    def _windows(self, source: np.ndarray, out_shape: tuple[int, ...]) -> list[np.ndarray]:
        """For each kernel offset (i, j), row-major: the view source[:, :, p*sh + i, q*sw + j]."""
        (kh, kw), (sh, sw), (oh, ow) = self.geometry.kernel, self.geometry.stride, out_shape[2:]
        return [source[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
                for i in range(kh) for j in range(kw)]

    def _inverse_area(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """1 / area of each window clipped to [-pad, size + pad) (an empty window counts as 1)."""
        h, w = shape[2:]
        oh, ow = self.geometry.output_size(h, w)
        areas = []
        for size, out, k, s, p in zip((h, w), (oh, ow), self.geometry.kernel, self.geometry.stride,
                                      self.geometry.pad, strict=True):
            start = np.arange(out) * s - p
            areas.append(np.maximum(np.minimum(start + k, size + p) - start, 1))
        return (1.0 / (areas[0][:, None] * areas[1][None, :])).astype(dtype)


def _memory(array: np.ndarray) -> np.ndarray:
    """A 1-D view of the elements of a 4-D array contiguous in (N, C, H, W) or channels-last order, in
    memory order (writes through it land in `array`)."""
    if not (array.flags.c_contiguous or array.transpose(0, 2, 3, 1).flags.c_contiguous):
        raise ValueError(f"pooling works on contiguous arrays, got strides {array.strides}")
    return as_strided(array, (array.size,), (array.itemsize,))
