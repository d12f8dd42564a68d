"""2-D convolution kernels (Caffe's geometry): im2col as one strided copy, products batched over groups.

With x (N, C, H, W), weights W (O, C/G, kh, kw) in G groups and output y (N, O, OH, OW):

    y[n, o, p, q] = b[o] + sum_{c in group(o), i, j} W[o, c, i, j] * xpad[n, c, p*sh + i*dh, q*sw + j*dw]
    OH = (H + 2*ph - (dh*(kh - 1) + 1)) // sh + 1   (and likewise OW)

im2col lays the windows out as `col` (G, N*OH*OW, K + 1) with K = (kh, kw, C/G) in one copy from a
strided view, and a last column of ones; y is then one product per group with [W b], the bias riding
in the product. Backward: [dW db] += dy @ col; dx is col2im of W^T dy, one product per kernel offset
(i, j) and one strided window add of its result, never a scatter.

Inside, col is laid out channels-last when a window row (C/G * kw values) is longer than an output
row (OW values): the strided copy then moves longer contiguous runs (measured: LeNet conv2 im2col
0.15 ms channels-last vs 0.9 ms channels-first; conv1, with one channel, the other way round).
Every array the caller passes keeps Caffe's NCHW shape, in either memory layout: a channels-last
x (see protonet.blob) is read without a copy, a channels-last y takes the product straight into its
memory and serves as its own rows in backward. Buffers are kept between calls and reallocated only
when a shape changes.

Layers run a batch in parts (`batch_chunks`) whose col holds about COL_BYTES, so that im2col writes it
and the products read it in cache, and recompute im2col in backward, as Caffe does (measured on
CIFAR-10 quick's conv2, one core: forward im2col + product 21.3 -> 15.4 ms, backward im2col + weight
product 14.9 ms against 14.8 for the product alone on a whole-batch col; and 82 MB of col less).
COL_BYTES is 2 MB: against 4 MB, CIFAR-10 quick's training step took 129 against 143 ms (one thread, CPU
time) and 120 against 134 ms (two threads, wall time), medians of 10 rounds alternating the two sizes
in one process; LeNet's train and inference steps were within 1-4% of each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..blob import check_shape, is_channels_last, zeros

Pair = tuple[int, int]
COL_BYTES = 2 << 20
MIN_SPLIT_BYTES = 256 << 10


@dataclass(frozen=True)
class ConvGeometry:
    """Kernel, stride, pad and dilation as (h, w) pairs, and the number of groups."""

    kernel: Pair
    stride: Pair = (1, 1)
    pad: Pair = (0, 0)
    dilation: Pair = (1, 1)
    group: int = 1

    def output_size(self, height: int, width: int) -> Pair:
        """(OH, OW) = (in + 2*pad - (dilation*(k - 1) + 1)) // stride + 1; may be < 1 for too small inputs."""
        return tuple(  # type: ignore[return-value]
            (size + 2 * p - (d * (k - 1) + 1)) // s + 1
            for size, k, s, p, d in zip((height, width), self.kernel, self.stride, self.pad, self.dilation,
                                             strict=True))

    def input_size(self, height: int, width: int) -> Pair:
        """The inverse map, Deconvolution's output size: stride*(in - 1) + dilation*(k - 1) + 1 - 2*pad."""
        return tuple(  # type: ignore[return-value]
            s * (size - 1) + d * (k - 1) + 1 - 2 * p
            for size, k, s, p, d in zip((height, width), self.kernel, self.stride, self.pad, self.dilation,
                                             strict=True))


class Conv2D:
    """Convolution kernels for one geometry, with the buffers they reuse.

    The image side is x (N, C, H, W), the output side y (N, O, OH, OW). `col` and `rows` are the
    internal matrices: col (G, N*OH*OW, K) from `im2col(x)`, rows (G, O/G, N*OH*OW) from `rows(y)`.
    A `col` stays valid until the next `im2col` call on this object.
    """

    def __init__(self, geometry: ConvGeometry) -> None:
        self.geometry = geometry
        self.buffers = Buffers()
        self._transposed: Conv2D | None = None  # the convolution input_grad runs, made when first used

    def batch_chunks(self, x: np.ndarray, threads: int = 1) -> list[slice]:
        """The batch of image-side array x (N, C, H, W) in as few parts as keep each part's col within about
        COL_BYTES, a multiple of `threads` of them where the batch allows, all of one size but the last.
        (LeNet's conv2 at batch 64, an 8 MB col: parts made again in backward beat one part kept from
        forward, 9.3 against 9.5 ms with 3 parts for both convolutions' forward and backward on one core.)"""
        (n, c, h, w), (kh, kw) = x.shape, self.geometry.kernel
        oh, ow = self._output_size(h, w)
        per_image = oh * ow * c * kh * kw * x.itemsize
        count = -(-n // max(1, COL_BYTES // per_image))
        if n * per_image >= MIN_SPLIT_BYTES:  # smaller batches run whole: a hand-over costs some 20 us
            count = min(n, -(-count // threads) * threads)
        size = -(-n // count)
        return [slice(start, min(start + size, n)) for start in range(0, n, size)]

    # -- forward: y = W * x + b --------------------------------------------------------------------

    def im2col(self, x: np.ndarray) -> np.ndarray:
        """col[g, (n, p, q), (i, j, c)] = xpad[n, g*C/G + c, p*sh + i*dh, q*sw + j*dw], in one copy
        from a strided view (x itself, or x copied into a bordered or channels-last buffer first), and a
        last column of ones: col (G, N*OH*OW, K + 1) times the weights with the bias as column K + 1 adds
        the bias in the product, and rows @ col gives the bias gradient too (LeNet inference at batch 256:
        conv1 3.8 -> 3.3 ms without its separate bias pass)."""
        (n, c, h, w), g = x.shape, self.geometry.group
        (kh, kw), (oh, ow) = self.geometry.kernel, self._output_size(h, w)
        channels_last = self._channels_last(c, ow)
        image = self._padded("image", x, channels_last)
        if image is None:
            image = x
        else:
            self._interior(image, h, w)[...] = x
        sn, sc, sh, sw = image.strides
        (sth, stw), (dh, dw) = self.geometry.stride, self.geometry.dilation
        windows = as_strided(image, (g, n, oh, ow, kh, kw, c // g),
                             (c // g * sc, sn, sth * sh, stw * sw, dh * sh, dw * sw, sc), writeable=False)
        k = kh * kw * (c // g)
        if channels_last:  # the ones stay from the allocation; each call writes the K columns before them
            col = self.buffers.get(("col", n), (g, n * oh * ow, k + 1), x.dtype, fill=1)
            np.copyto(_view(col[..., :k], (g, n, oh, ow, kh, kw, c // g)), windows)
            return col
        col = self.buffers.get(("col", n), (g, k + 1, n * oh * ow), x.dtype, fill=1)
        np.copyto(_view(col[:, :k], (g, kh, kw, c // g, n, oh, ow)).transpose(0, 4, 5, 6, 1, 2, 3), windows)
        return col.swapaxes(1, 2)

    def forward(self, col: np.ndarray, w: np.ndarray, b: np.ndarray | None, y: np.ndarray) -> None:
        """y (N, O, OH, OW) = [W b] @ col^T, from the col of `im2col` (b = 0 when None).

        A channels-last y takes the product (N*OH*OW, O) straight into its memory. Else a channels-first
        col (K, N*OH*OW) per group gives each image's (O/G, OH*OW) block straight into y,
        one product per image (LeNet's conv1: 0.51 ms instead of 0.62 for one product and a transposing
        copy); a channels-last col, one product (O/G, N*OH*OW) and the copy, which is faster there."""
        g = self.geometry.group
        n, o, oh, ow = y.shape
        weights = self._weights(w, b)
        if is_channels_last(y):  # y's memory is rows (N*OH*OW, O): the product goes straight in
            rows = y.transpose(0, 2, 3, 1).reshape(n * oh * ow, g, o // g).swapaxes(0, 1)
            np.matmul(col, weights.swapaxes(1, 2), out=rows)
            return
        target = y.reshape(n, g, o // g, oh, ow)  # only splits an axis: a view of y, whatever its strides
        if col.strides[1] == col.itemsize and y.flags.c_contiguous:  # channels-first: (G, K, N*OH*OW)^T
            per_image = col.swapaxes(1, 2).reshape(g, -1, n, oh * ow).transpose(0, 2, 1, 3)
            np.matmul(weights[:, None], per_image, out=target.reshape(n, g, o // g, oh * ow).swapaxes(0, 1))
            return
        product = self.buffers.get(("product", n), (g, o // g, col.shape[1]), w.dtype)
        np.matmul(weights, col.swapaxes(1, 2), out=product)
        np.copyto(target, product.reshape(g, o // g, n, oh, ow).transpose(2, 0, 1, 3, 4))

    # -- backward ----------------------------------------------------------------------------------

    def rows(self, y: np.ndarray) -> np.ndarray:
        """An output-side array (N, O, OH, OW) as rows (G, O/G, N*OH*OW): a view of a channels-last y, else
        a copy in a reused buffer."""
        n, o, oh, ow = y.shape
        g = self.geometry.group
        if is_channels_last(y):
            return y.transpose(0, 2, 3, 1).reshape(n * oh * ow, g, o // g).transpose(1, 2, 0)
        rows = self.buffers.get(("rows", n), (g, o // g, n, oh * ow), y.dtype)
        np.copyto(rows, y.reshape(n, g, o // g, oh * ow).transpose(1, 2, 0, 3))
        return rows.reshape(g, o // g, -1)

    def weight_grad(self, col: np.ndarray, rows: np.ndarray, dw: np.ndarray, db: np.ndarray | None = None) -> None:
        """[dW db] += rows @ col: added into dw (O, C/G, kh, kw) and, when given, db (O,) (the column of ones:
        each row's sum, Caffe's bias gradient)."""
        g, (kh, kw) = self.geometry.group, self.geometry.kernel
        o, cg = dw.shape[:2]
        if col.strides[1] == col.itemsize and rows.strides[1] == rows.itemsize:  # col^T and rows^T row-major:
            # their product [dW db]^T (K + 1, O/G) multiplies rows by rows (CIFAR-10 quick's conv1, channels-first
            # col: 56 instead of 37 GFLOP/s for rows @ col, against 97 for a square product, busy machine)
            grad_t = self.buffers.get("weight_grad_t", (g, col.shape[2], o // g), dw.dtype)
            np.matmul(col.swapaxes(1, 2), rows.swapaxes(1, 2), out=grad_t)
            grad = grad_t.swapaxes(1, 2)
        else:
            grad = self.buffers.get("weight_grad", (g, o // g, col.shape[2]), dw.dtype)
            np.matmul(rows, col, out=grad)
        target = dw.reshape(g, o // g, cg, kh, kw)
        np.add(target, _view(grad[..., :-1], (g, o // g, kh, kw, cg)).transpose(0, 1, 4, 2, 3), out=target)
        if db is not None:
            db += grad[..., -1].reshape(-1)

    def data_grad(self, rows: np.ndarray, w: np.ndarray, dx: np.ndarray) -> None:
        """dx (N, C, H, W) = col2im(W^T @ rows): per kernel offset (i, j) one product
        d[g, (n, p, q), c] = sum_o rows[g, o, (n, p, q)] W[g*O/G + o, c, i, j], added to the window
        dxpad[n, g*C/G + c, p*sh + i*dh, q*sw + j*dw] as one strided slice."""
        (n, c, h, w_), g = dx.shape, self.geometry.group
        (kh, kw), (oh, ow) = self.geometry.kernel, self._output_size(h, w_)
        (sth, stw), (dh, dw) = self.geometry.stride, self.geometry.dilation
        channels_last = self._channels_last(c, ow)
        image = self._padded("image_grad", dx, channels_last)
        if image is None:
            image = dx
        image.fill(0)
        weights = _view(self._weights(w)[..., :-1], (g, -1, kh, kw, c // g))
        if channels_last:  # (G, N*OH*OW, C/G) = rows^T @ W_ij
            offset = self.buffers.get(("offset_grad", n), (g, n * oh * ow, c // g), dx.dtype)
            offset_nchw = offset.reshape(g, n, oh, ow, c // g).transpose(1, 0, 4, 2, 3)
        else:  # (G, C/G, N*OH*OW) = W_ij^T @ rows
            offset = self.buffers.get(("offset_grad", n), (g, c // g, n * oh * ow), dx.dtype)
            offset_nchw = offset.reshape(g, c // g, n, oh, ow).transpose(2, 0, 1, 3, 4)
        grouped = image.reshape(n, g, c // g, *image.shape[2:])
        for i in range(kh):
            for j in range(kw):
                if channels_last:
                    np.matmul(rows.swapaxes(1, 2), weights[:, :, i, j, :], out=offset)
                else:
                    np.matmul(weights[:, :, i, j, :].swapaxes(1, 2), rows, out=offset)
                window = grouped[..., i * dh:i * dh + sth * (oh - 1) + 1:sth,
                                 j * dw:j * dw + stw * (ow - 1) + 1:stw]
                np.add(window, offset_nchw, out=window)
        if image is not dx:
            np.copyto(dx, self._interior(image, h, w_))

    def input_grad(self, dy: np.ndarray, rows: np.ndarray, w: np.ndarray, dx: np.ndarray) -> None:
        """dx (N, C, H, W) from dy (N, O, OH, OW) and its `rows`: for a stride-1 undilated convolution whose
        input is about as large as its output ("same" padding), as the convolution of dy (padded by
        k - 1 - pad) with the flipped weights W'[c, o, i, j] = W[o, c, kh-1-i, kw-1-j]: as many products
        as col2im, in one big product (CIFAR-10 quick's conv2: 15.1 ms instead of 19.5 on one core);
        else `data_grad`, with rows^T made contiguous from dy when it multiplies (LeNet's conv2: products
        2.26 ms instead of 2.71, for a 0.05 ms copy)."""
        (h, w_), (oh, ow), geo = dx.shape[2:], dy.shape[2:], self.geometry
        pad = (geo.kernel[0] - 1 - geo.pad[0], geo.kernel[1] - 1 - geo.pad[1])
        if geo.stride != (1, 1) or geo.dilation != (1, 1) or min(pad) < 0 or 4 * h * w_ > 5 * oh * ow:
            if self._channels_last(dx.shape[1], ow) and not is_channels_last(dy):  # rows^T is multiplied:
                # made contiguous from dy (a channels-last dy already is)
                n, o, g = dy.shape[0], dy.shape[1], geo.group
                rows_t = self.buffers.get(("rows_t", n), (g, n, oh * ow, o // g), dy.dtype)
                np.copyto(rows_t, dy.reshape(n, g, o // g, oh * ow).transpose(1, 0, 3, 2))
                rows = rows_t.reshape(g, n * oh * ow, o // g).swapaxes(1, 2)
            self.data_grad(rows, w, dx)
            return
        if self._transposed is None:
            self._transposed = Conv2D(ConvGeometry(geo.kernel, pad=pad, group=geo.group))
        (o, cg, kh, kw), g = w.shape, geo.group
        flipped = self.buffers.get("flipped", (g, cg, o // g, kh, kw), w.dtype)
        np.copyto(flipped, w.reshape(g, o // g, cg, kh, kw).transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1])
        transposed, flipped = self._transposed, flipped.reshape(g * cg, o // g, kh, kw)
        for part in transposed.batch_chunks(dy):  # its col is O/C times this one's: parts of its own
            transposed.forward(transposed.im2col(dy[part]), flipped, None, dx[part])

    # -- helpers -----------------------------------------------------------------------------------

    def _output_size(self, height: int, width: int) -> Pair:
        oh, ow = self.geometry.output_size(height, width)
        if oh < 1 or ow < 1:
            raise ValueError(f"input {height}x{width} is smaller than the {self.geometry.kernel} kernel "
                             f"(with pad {self.geometry.pad}, dilation {self.geometry.dilation})")
        return oh, ow

    def _channels_last(self, channels: int, out_width: int) -> bool:
        """Whether the longer contiguous run is a window row (C/G values, times kw if undilated)
        rather than an output row (OW values if stride 1)."""
        geo = self.geometry
        run_cl = channels // geo.group * (geo.kernel[1] if geo.dilation[1] == 1 else 1)
        run_cf = out_width if geo.stride[1] == 1 else 1
        return run_cl > run_cf

    def _weights(self, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
        """[W b]: W (O, C/G, kh, kw) as (G, O/G, K) with K in col's order (kh, kw, C/G), then the bias b (O,)
        (or zeros) as column K + 1."""
        (o, cg, kh, kw), g = w.shape, self.geometry.group
        out = self.buffers.get("weights", (g, o // g, kh * kw * cg + 1), w.dtype)
        source = w.reshape(g, o // g, cg, kh, kw).transpose(0, 1, 3, 4, 2)
        np.copyto(_view(out[..., :-1], (g, o // g, kh, kw, cg)), source)
        out[..., -1] = 0 if b is None else b.reshape(g, o // g)
        return out

    def _padded(self, name: str, like: np.ndarray, channels_last: bool) -> np.ndarray | None:
        """A zero-bordered (N, C, H + 2ph, W + 2pw) buffer (channels-last memory if asked) for an image-side
        array like `like`, or None when that array can serve itself (no padding, and the layout asked)."""
        (ph, pw), (n, c, h, w) = self.geometry.pad, like.shape
        if not (ph or pw) and is_channels_last(like) == channels_last:
            return None
        shape = (n, c, h + 2 * ph, w + 2 * pw)
        return self.buffers.get((name, n), shape, like.dtype, channels_last=channels_last)

    def _interior(self, image: np.ndarray, height: int, width: int) -> np.ndarray:
        ph, pw = self.geometry.pad
        return image[:, :, ph:ph + height, pw:pw + width]


def _view(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """`array` reshaped without copying (a copy would drop what is written through it: an error instead)."""
    return np.reshape(array, shape, copy=False)


class Buffers:
    """Named work arrays kept between calls, so that steady state allocates nothing."""

    def __init__(self) -> None:
        self._arrays: dict[object, np.ndarray] = {}

    def get(self, name: object, shape: tuple[int, ...], dtype: np.dtype | type, fill: float = 0,
            channels_last: bool = False) -> np.ndarray:
        """The array kept under `name` (and layout); a new one filled with `fill` when shape or dtype change.
        (Callers that alternate between shapes, such as batch parts, put the varying size in the name.)"""
        key = (name, channels_last)
        array = self._arrays.get(key)
        if array is None or array.shape != tuple(shape) or array.dtype != dtype:
            array = self._arrays[key] = zeros(check_shape(shape, "work array"), np.dtype(dtype), channels_last)
            if fill:
                array.fill(fill)
        return array
