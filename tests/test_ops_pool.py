"""The pooling kernels against Caffe's loops (pooling_layer.cpp), written out plainly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from protonet.ops.pool import FLT_MIN, Pool2D, PoolGeometry


def caffe_size(size: int, k: int, s: int, p: int, ceil: bool, any_pad: bool) -> int:
    out = (math.ceil if ceil else math.floor)((size + 2 * p - k) / s) + 1
    if any_pad and (out - 1) * s >= size + p:
        out -= 1
    return out


def window_bounds(geo: PoolGeometry, shape: tuple[int, ...]):
    """Every (p, q, hstart, hend, wstart, wend) of Caffe's loops, before any clipping."""
    h, w = shape[2:]
    any_pad = any(geo.pad)
    oh = caffe_size(h, geo.kernel[0], geo.stride[0], geo.pad[0], geo.ceil, any_pad)
    ow = caffe_size(w, geo.kernel[1], geo.stride[1], geo.pad[1], geo.ceil, any_pad)
    for p in range(oh):
        for q in range(ow):
            hs, ws = p * geo.stride[0] - geo.pad[0], q * geo.stride[1] - geo.pad[1]
            yield p, q, hs, hs + geo.kernel[0], ws, ws + geo.kernel[1]


def output_shape(geo: PoolGeometry, shape: tuple[int, ...]) -> tuple[int, ...]:
    last = list(window_bounds(geo, shape))[-1]
    return (*shape[:2], last[0] + 1, last[1] + 1)


def naive_max(x: np.ndarray, geo: PoolGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Caffe's scan: windows clipped to the image, strict '>' so the first maximum wins; mask h*W + w."""
    h, w = x.shape[2:]
    y, mask = np.full(output_shape(geo, x.shape), -np.inf), np.full(output_shape(geo, x.shape), -1)
    for n, c in np.ndindex(*x.shape[:2]):
        for p, q, hs, he, ws, we in window_bounds(geo, x.shape):
            for r in range(max(hs, 0), min(he, h)):
                for s in range(max(ws, 0), min(we, w)):
                    if x[n, c, r, s] > y[n, c, p, q]:
                        y[n, c, p, q], mask[n, c, p, q] = x[n, c, r, s], r * w + s
    return y, mask


def naive_ave(x: np.ndarray, geo: PoolGeometry) -> np.ndarray:
    """Caffe's average: the divisor is the window clipped to the padded image, the sum over the image."""
    h, w = x.shape[2:]
    (ph, pw), y = geo.pad, np.zeros(output_shape(geo, x.shape))
    for p, q, hs, he, ws, we in window_bounds(geo, x.shape):
        area = (min(he, h + ph) - hs) * (min(we, w + pw) - ws)
        y[:, :, p, q] = x[:, :, max(hs, 0):min(he, h), max(ws, 0):min(we, w)].sum(axis=(2, 3)) / area
    return y


GEOMETRIES = [
    PoolGeometry((2, 2), (2, 2)),  # LeNet: non-overlapping, exact tiling
    PoolGeometry((3, 3), (2, 2)),  # overlapping, ceil adds a clipped last window on 7 and 6
    PoolGeometry((2, 2), (2, 2), (1, 1)),  # padded: on 5 the window starting at 5 + 1 is dropped
    PoolGeometry((3, 2), (2, 1), (1, 0)),
    PoolGeometry((3, 3), (2, 2), ceil=False),
    PoolGeometry((2, 3), (3, 2), (1, 1)),  # stride larger than the kernel
]
SHAPES = [(2, 3, 7, 7), (1, 2, 6, 5), (2, 1, 5, 5)]


@pytest.mark.parametrize("geo", GEOMETRIES)
@pytest.mark.parametrize("shape", SHAPES)
def test_sizes_are_caffes(geo, shape):
    expected = output_shape(geo, shape)[2:]
    assert geo.output_size(*shape[2:]) == expected


@pytest.mark.parametrize("size, k, s, p, ceil, expected", [
    (24, 2, 2, 0, True, 12), (7, 2, 2, 0, True, 4), (7, 2, 2, 0, False, 3), (6, 3, 2, 0, True, 3),
    (5, 2, 2, 1, True, 3), (13, 3, 2, 0, True, 6), (55, 3, 2, 0, True, 27), (112, 3, 2, 1, True, 57),
    (56, 3, 2, 1, False, 28),
])
def test_output_size_examples(size, k, s, p, ceil, expected):
    assert PoolGeometry((k, k), (s, s), (p, p), ceil).output_size(size, size) == (expected, expected)


@pytest.mark.parametrize("geo", GEOMETRIES)
@pytest.mark.parametrize("shape", SHAPES)
def test_max_takes_the_first_maximum(geo, shape, rng):
    x = rng.integers(0, 3, shape).astype(float)  # plenty of ties, as black image backgrounds give
    op = Pool2D(geo)
    y = np.empty(output_shape(geo, shape))
    expected, mask = naive_max(x, geo)
    for _ in range(2):
        op.max_forward(x, y)
        np.testing.assert_array_equal(y, expected)
        np.testing.assert_array_equal(op.mask(shape[3]), mask)
    dy = rng.standard_normal(y.shape)
    dx = np.full(shape, 5.0)
    op.max_backward(dy, dx)
    scatter = np.zeros(shape)
    for n, c, p, q in np.ndindex(*y.shape):
        scatter[n, c].flat[mask[n, c, p, q]] += dy[n, c, p, q]
    np.testing.assert_allclose(dx, scatter, atol=1e-12)


@pytest.mark.parametrize("geo", [*GEOMETRIES, PoolGeometry((7, 7))])  # the last: global on (2, 3, 7, 7)
@pytest.mark.parametrize("shape", SHAPES)
def test_max_without_argmax_is_the_same_maximum(geo, shape, rng):
    x = rng.integers(-3, 3, shape).astype(np.float32)
    if geo.kernel[0] > shape[2] or geo.kernel[1] > shape[3]:
        pytest.skip("kernel larger than the input")
    op = Pool2D(geo)
    y = np.empty((*shape[:2], *geo.output_size(*shape[2:])), np.float32)
    op.max_forward(x, y, with_argmax=False)
    assert op.argmax is None  # nothing a backward could wrongly read
    np.testing.assert_array_equal(y, naive_max(x, geo)[0])


@pytest.mark.parametrize("geo", GEOMETRIES)
@pytest.mark.parametrize("shape", SHAPES)
def test_average_divisors_and_backward(geo, shape, rng):
    x = rng.standard_normal(shape)
    op = Pool2D(geo)
    y = np.empty(output_shape(geo, shape))
    for _ in range(2):
        op.ave_forward(x, y)
        np.testing.assert_allclose(y, naive_ave(x, geo), atol=1e-12)
    # backward is the adjoint of forward: <dy, ave(x)> = <ave_backward(dy), x>
    dy = rng.standard_normal(y.shape)
    dx = np.empty(shape)
    op.ave_backward(dy, dx)
    assert np.isclose((dy * y).sum(), (dx * x).sum())


def test_padded_average_counts_the_padding():
    op = Pool2D(PoolGeometry((3, 3), (2, 2), (1, 1)))
    x = np.ones((1, 1, 4, 4))
    y = np.empty((1, 1, 3, 3))  # ceil((4 + 2 - 3) / 2) + 1 = 3 windows per axis, starting at -1, 1, 3
    op.ave_forward(x, y)
    # per axis: window -1..1 holds 2 image cells of 3; 1..3 holds 3 of 3; 3..5 is clipped to the
    # padded input (3..4): 1 image cell of 2, the overhang at 5 does not count
    image, area = np.array([2, 3, 1]), np.array([3, 3, 2])
    np.testing.assert_allclose(y[0, 0], np.outer(image, image) / np.outer(area, area))


def test_global_pooling_is_one_window(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    x[0, 0, 1, 2] = x[0, 0, 3, 0] = x[0, 0].max() + 1  # a tie: the first (row-major) wins
    op = Pool2D(PoolGeometry((4, 5)))
    y = np.empty((2, 3, 1, 1))
    op.max_forward(x, y)
    np.testing.assert_array_equal(y[..., 0, 0], x.max(axis=(2, 3)))
    assert op.mask(5)[0, 0, 0, 0] == 1 * 5 + 2
    dx = np.empty_like(x)
    op.max_backward(np.ones_like(y), dx)
    assert dx.sum() == 6 and dx[0, 0, 1, 2] == 1 and dx[0, 0, 3, 0] == 0
    op.ave_forward(x, y)
    np.testing.assert_allclose(y[..., 0, 0], x.mean(axis=(2, 3)))
    op.ave_backward(np.ones_like(y), dx)
    np.testing.assert_allclose(dx, 1 / 20)


def test_a_window_beyond_the_input_gives_caffes_values():
    # kernel 1 < stride 3 without padding: ceil((5 - 1) / 3) + 1 = 3 windows, the last starting at 6
    op = Pool2D(PoolGeometry((1, 1), (3, 3)))
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    y = np.empty((1, 1, 3, 3))
    op.max_forward(x, y)
    assert y[0, 0, 0, 1] == 3 and y[0, 0, 2, 2] == np.finfo(float).min  # Caffe's -FLT_MAX start
    op.ave_forward(x, y)
    assert y[0, 0, 1, 1] == 18 and y[0, 0, 2, 2] == 0


def test_overlapping_max_never_chooses_beyond_the_input():
    # 3x3 stride 2 on 4x4: the second window row and column overhang; with -inf everywhere each window's
    # first element (inside) is chosen, and the gradient goes straight into dx, nowhere else
    op = Pool2D(PoolGeometry((3, 3), (2, 2)))
    x = np.full((2, 1, 4, 4), -np.inf)
    y = np.empty((2, 1, 2, 2))
    op.max_forward(x, y)
    assert (y == -np.inf).all() and (op.argmax == 0).all()
    dy = np.arange(1.0, 9.0).reshape(y.shape)
    dx = np.full(x.shape, 7.0)
    op.max_backward(dy, dx)
    np.testing.assert_array_equal(dx[:, :, ::2, ::2], dy)
    assert dx.sum() == dy.sum()


def test_stochastic_test_phase_is_the_weighted_average(rng):
    x = rng.uniform(0, 1, (2, 2, 5, 5))
    geo = PoolGeometry((2, 2), (2, 2))
    y = np.empty(output_shape(geo, x.shape))
    Pool2D(geo).stochastic_forward(x, y, None)
    expected = np.zeros(y.shape)
    for p, q, hs, he, ws, we in window_bounds(geo, x.shape):
        window = x[:, :, hs:he, ws:we]  # the ceil window at 4 is clipped to the image
        expected[:, :, p, q] = (window ** 2).sum(axis=(2, 3)) / (FLT_MIN + window.sum(axis=(2, 3)))
    np.testing.assert_allclose(y, expected, rtol=1e-12)


def test_stochastic_training_samples_by_running_sum(rng):
    x = rng.uniform(0, 1, (2, 2, 5, 5))
    x[0, 0, :2, :2] = 0  # an all-zero window takes its first element
    geo = PoolGeometry((2, 2), (2, 2))
    op = Pool2D(geo)
    y = np.empty(output_shape(geo, x.shape))
    op.stochastic_forward(x, y, np.random.default_rng(3))
    u = np.random.default_rng(3).random(y.shape)
    mask = op.mask(5)
    for n, c in np.ndindex(2, 2):
        for p, q, hs, he, ws, we in window_bounds(geo, x.shape):
            values = x[n, c, hs:he, ws:we]
            running = np.cumsum(values.reshape(-1))
            pick = int(np.argmax(running >= u[n, c, p, q] * running[-1]))
            r, s = np.unravel_index(pick, values.shape)
            assert mask[n, c, p, q] == (hs + r) * 5 + ws + s
            assert y[n, c, p, q] == values[r, s]
    dy = rng.standard_normal(y.shape)
    dx = np.empty_like(x)
    op.max_backward(dy, dx)
    assert np.isclose(dx.sum(), dy.sum()) and np.count_nonzero(dx) == y.size


def test_float32_stays_float32(rng):
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    op = Pool2D(PoolGeometry((3, 3), (2, 2), (1, 1)))
    y = np.empty((2, 3, 4, 4), np.float32)
    op.max_forward(x, y)
    op.ave_forward(x, y)
    dx = np.empty_like(x)
    op.max_backward(y, dx)
    op.ave_backward(y, dx)
    assert all(a.dtype in (np.float32, np.bool_) or a.dtype.kind == "u" for a in op.buffers._arrays.values())
