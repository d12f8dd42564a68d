"""The convolution kernels against plain loops: forward, dW, and col2im against a naive scatter."""

from __future__ import annotations

import numpy as np
import pytest

from protonet.blob import zeros
from protonet.ops.conv import Conv2D, ConvGeometry


def taps(geo: ConvGeometry, w_shape: tuple[int, ...], out_hw: tuple[int, int], in_hw: tuple[int, int]):
    """Every (o, first input channel of o's group, p, q, i, j, r, s) with input row r = p*sh - ph + i*dh
    and column s = q*sw - pw + j*dw inside the image, one at a time."""
    o, cg, kh, kw = w_shape
    (sh, sw), (ph, pw), (dh, dw) = geo.stride, geo.pad, geo.dilation
    for oc in range(o):
        first = oc // (o // geo.group) * cg
        for p in range(out_hw[0]):
            for q in range(out_hw[1]):
                for i in range(kh):
                    for j in range(kw):
                        r, s = p * sh - ph + i * dh, q * sw - pw + j * dw
                        if 0 <= r < in_hw[0] and 0 <= s < in_hw[1]:
                            yield oc, first, p, q, i, j, r, s


def naive_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, geo: ConvGeometry) -> np.ndarray:
    """y[n, o, p, q] = b[o] + sum_{c, i, j} w[o, c, i, j] x[n, group(o) + c, r(p, i), s(q, j)]."""
    (n, _, h, wd), (o, cg, kh, kw) = x.shape, w.shape
    (sh, sw), (ph, pw), (dh, dw) = geo.stride, geo.pad, geo.dilation
    oh = (h + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
    ow = (wd + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
    y = np.zeros((n, o, oh, ow)) + (0 if b is None else b[:, None, None])
    for oc, first, p, q, i, j, r, s in taps(geo, w.shape, (oh, ow), (h, wd)):
        y[:, oc, p, q] += x[:, first:first + cg, r, s] @ w[oc, :, i, j]
    return y


def naive_scatter(dy: np.ndarray, w: np.ndarray, image_shape: tuple, geo: ConvGeometry) -> np.ndarray:
    """col2im(W^T dy) element by element: each dy[n, o, p, q] * w[o, c, i, j] added where it came
    from (also Deconvolution's forward)."""
    dx, cg = np.zeros(image_shape), w.shape[1]
    for oc, first, p, q, i, j, r, s in taps(geo, w.shape, dy.shape[2:], image_shape[2:]):
        dx[:, first:first + cg, r, s] += dy[:, oc, p, q][:, None] * w[oc, :, i, j]
    return dx


def naive_weight_grad(x: np.ndarray, dy: np.ndarray, w_shape: tuple, geo: ConvGeometry) -> np.ndarray:
    """dW[o, c, i, j] = sum_{n, p, q} dy[n, o, p, q] x[n, group(o) + c, r(p, i), s(q, j)]."""
    dw, cg = np.zeros(w_shape), w_shape[1]
    for oc, first, p, q, i, j, r, s in taps(geo, w_shape, dy.shape[2:], x.shape[2:]):
        dw[oc, :, i, j] += dy[:, oc, p, q] @ x[:, first:first + cg, r, s]
    return dw


# (N, C, H, W, O, geometry)
CASES = [
    (2, 3, 6, 5, 4, ConvGeometry((3, 3))),
    (2, 3, 7, 6, 4, ConvGeometry((3, 2), stride=(1, 2), pad=(1, 0))),
    (2, 4, 8, 7, 6, ConvGeometry((3, 3), stride=(2, 1), pad=(2, 1), dilation=(2, 1), group=2)),
    (1, 6, 5, 5, 3, ConvGeometry((1, 1), group=3)),
    (2, 2, 9, 9, 2, ConvGeometry((4, 4), stride=(3, 3), pad=(2, 2))),
    (2, 4, 6, 6, 4, ConvGeometry((2, 3), dilation=(2, 2), pad=(1, 2), group=4)),
]


@pytest.fixture(params=[False, True], ids=["channels_first", "channels_last"])
def layout(request, monkeypatch):
    """Run each case with both internal layouts, whatever the heuristic would pick."""
    monkeypatch.setattr(Conv2D, "_channels_last", lambda self, channels, out_width: request.param)
    return request.param


@pytest.mark.parametrize("n, c, h, w, o, geo", CASES)
@pytest.mark.parametrize("dy_channels_last", [False, True])  # a channels-last dy: rows^T row-major, and
# with a channels-first col, weight_grad's product [dW db]^T = col^T rows^T
def test_forward_and_gradients_match_loops(n, c, h, w, o, geo, layout, dy_channels_last, rng):
    x = rng.standard_normal((n, c, h, w))
    weights = rng.standard_normal((o, c // geo.group, *geo.kernel))
    bias = rng.standard_normal(o)
    op = Conv2D(geo)
    oh, ow = geo.output_size(h, w)
    y = np.empty((n, o, oh, ow))
    for _ in range(2):  # a second call reuses the buffers (and their zero borders)
        col = op.im2col(x)
        op.forward(col, weights, bias, y)
        np.testing.assert_allclose(y, naive_conv(x, weights, bias, geo), atol=1e-12)
    dy = zeros(y.shape, y.dtype, channels_last=dy_channels_last)
    dy[...] = rng.standard_normal(y.shape)
    dw, db = np.ones_like(weights), np.full(o, 2.0)  # weight_grad accumulates
    dx = np.full_like(x, 7.0)  # data_grad overwrites
    rows = op.rows(dy)
    op.weight_grad(col, rows, dw, db)
    op.data_grad(rows, weights, dx)
    np.testing.assert_allclose(dw, 1 + naive_weight_grad(x, dy, weights.shape, geo), atol=1e-12)
    np.testing.assert_allclose(db, 2 + dy.sum(axis=(0, 2, 3)), atol=1e-12)
    np.testing.assert_allclose(dx, naive_scatter(dy, weights, x.shape, geo), atol=1e-12)


def test_forward_without_bias(rng):
    geo = ConvGeometry((2, 2), stride=(2, 2))
    x, weights = rng.standard_normal((1, 2, 4, 4)), rng.standard_normal((3, 2, 2, 2))
    y = np.empty((1, 3, 2, 2))
    op = Conv2D(geo)
    op.forward(op.im2col(x), weights, None, y)
    np.testing.assert_allclose(y, naive_conv(x, weights, None, geo), atol=1e-12)


@pytest.mark.parametrize("size, k, s, p, d, expected", [
    (28, 5, 1, 0, 1, 24), (12, 5, 1, 0, 1, 8), (7, 3, 2, 1, 1, 4), (8, 3, 2, 0, 1, 3), (9, 3, 1, 0, 2, 5),
    (5, 1, 1, 0, 1, 5), (224, 11, 4, 2, 1, 55),
])
def test_output_size_is_caffes_floor_formula(size, k, s, p, d, expected):
    geo = ConvGeometry((k, k), (s, s), (p, p), (d, d))
    assert geo.output_size(size, size) == (expected, expected)
    assert geo.input_size(expected, expected)[0] <= size + s - 1  # the deconvolution map goes back


def test_float32_stays_float32_and_steady_state_reuses_buffers(rng):
    geo = ConvGeometry((3, 3), pad=(1, 1))
    op = Conv2D(geo)
    x = rng.standard_normal((2, 4, 6, 6)).astype(np.float32)
    weights = rng.standard_normal((5, 4, 3, 3)).astype(np.float32)
    y = np.empty((2, 5, 6, 6), np.float32)
    dx = np.empty_like(x)
    dw = np.zeros_like(weights)

    def step() -> None:
        col = op.im2col(x)
        op.forward(col, weights, None, y)
        rows = op.rows(y)
        op.weight_grad(col, rows, dw)
        op.data_grad(rows, weights, dx)

    step()
    before = {name: id(array) for name, array in op.buffers._arrays.items()}
    step()
    assert {name: id(array) for name, array in op.buffers._arrays.items()} == before
    assert all(a.dtype == np.float32 for a in op.buffers._arrays.values())
    assert y.dtype == dx.dtype == np.float32
    np.testing.assert_allclose(y, naive_conv(x.astype(float), weights.astype(float), None, geo), rtol=1e-4,
                               atol=1e-4)


def test_layout_heuristic_prefers_the_longer_contiguous_run():
    op = Conv2D(ConvGeometry((5, 5)))
    assert not op._channels_last(1, 24)  # LeNet conv1: one channel, rows of 24 outputs
    assert op._channels_last(20, 8)  # LeNet conv2: window rows of 5 x 20 values
    assert Conv2D(ConvGeometry((3, 3), stride=(2, 2)))._channels_last(3, 100)  # strided: no output runs


def test_too_small_input_is_refused(rng):
    op = Conv2D(ConvGeometry((5, 5)))
    with pytest.raises(ValueError, match="smaller than"):
        op.im2col(rng.standard_normal((1, 1, 3, 3)))
