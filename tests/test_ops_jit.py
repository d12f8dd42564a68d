"""The compiled pooling passes (protonet.ops.jit, the `jit` extra) against the numpy passes they replace."""

from __future__ import annotations

import numpy as np
import pytest

from protonet.blob import zeros
from protonet.ops import jit
from protonet.ops.pool import Pool2D, PoolGeometry

pytest.importorskip("numba")

GEOMETRIES = [
    PoolGeometry((3, 3), (2, 2)),  # CIFAR-10 quick: overlapping, ceil adds a clipped last window
    PoolGeometry((3, 2), (2, 1), (1, 0)),  # padded on one axis, non-square kernel
    PoolGeometry((3, 3), (1, 1), (1, 1)),  # stride 1, padded all round
    PoolGeometry((3, 3), (2, 2), (1, 1), ceil=False),
    PoolGeometry((4, 3), (2, 3), (2, 1)),  # overlapping on one axis only, pad 2 of kernel 4
]
SHAPES = [(2, 3, 7, 7), (1, 2, 6, 5), (3, 17, 9, 4)]  # batch 1, non-square planes, odd channel counts


@pytest.fixture(autouse=True)
def restore():
    yield
    jit.set_enabled(True)


def channels_last(array: np.ndarray) -> np.ndarray:
    out = zeros(array.shape, array.dtype, channels_last=True)
    out[...] = array
    return out


def run_both(geo: PoolGeometry, shape: tuple[int, ...], dtype, rng, passes) -> list[list[np.ndarray]]:
    """`passes(op, x, dy)` (returning arrays) with the compiled passes and with numpy's, on channels-last
    x and dy; x rounded to one decimal so that windows hold ties."""
    n, c, h, w = shape
    oh, ow = geo.output_size(h, w)
    x = channels_last(rng.standard_normal(shape).round(1).astype(dtype))
    dy = channels_last(rng.standard_normal((n, c, oh, ow)).astype(dtype))
    results = []
    for compiled in (True, False):
        jit.set_enabled(compiled)
        op = Pool2D(geo)
        assert op._compiled(x, dy) == compiled
        results.append(passes(op, x, dy))
    return results


def max_passes(op: Pool2D, x: np.ndarray, dy: np.ndarray) -> list[np.ndarray]:
    y, dx, inference = zeros(dy.shape, x.dtype, True), zeros(x.shape, x.dtype, True), zeros(dy.shape, x.dtype, True)
    dx.fill(7)  # overwritten, not added to
    op.max_forward(x, inference, with_argmax=False)
    op.max_forward(x, y)
    op.max_backward(dy, dx)
    return [y, op.argmax.copy(), dx, inference]


def ave_passes(op: Pool2D, x: np.ndarray, dy: np.ndarray) -> list[np.ndarray]:
    y, dx = zeros(dy.shape, x.dtype, True), zeros(x.shape, x.dtype, True)
    dx.fill(7)
    op.ave_forward(x, y)
    op.ave_backward(dy, dx)
    return [y, dx]


@pytest.mark.parametrize("geo", GEOMETRIES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_max_is_numpys_exactly(geo, shape, dtype, rng):
    compiled, reference = run_both(geo, shape, dtype, rng, max_passes)
    for ours, theirs in zip(compiled, reference, strict=True):
        assert ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("geo", GEOMETRIES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_average_is_numpys(geo, shape, dtype, rng):
    (y, dx), (y_ref, dx_ref) = run_both(geo, shape, dtype, rng, ave_passes)
    np.testing.assert_array_equal(y, y_ref)  # the same sums in the same order
    tolerance = 1e-6 if dtype == np.float32 else 1e-14  # the gradient: its additions in another order
    np.testing.assert_allclose(dx, dx_ref, rtol=tolerance, atol=tolerance)


def test_the_numpy_passes_run_where_the_compiled_ones_do_not_win():
    x = channels_last(np.ones((2, 3, 8, 8)))
    y = channels_last(np.ones((2, 3, 4, 4)))
    assert Pool2D(PoolGeometry((3, 3), (2, 2)))._compiled(x, channels_last(np.ones((2, 3, 4, 4))))
    assert not Pool2D(PoolGeometry((2, 2), (2, 2)))._compiled(x, y)  # non-overlapping
    assert not Pool2D(PoolGeometry((3, 3), (2, 2)))._compiled(np.ones((2, 3, 8, 8)), y)  # NCHW input
    assert not Pool2D(PoolGeometry((8, 8), (2, 2)))._compiled(x, y)  # global: one flat reduction
