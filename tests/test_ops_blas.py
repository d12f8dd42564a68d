"""BLAS level-1 helpers (Caffe's caffe_axpy and caffe_cpu_axpby) and the thread count, against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from protonet.ops import blas


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_axpy_and_axpby_follow_their_formulas(dtype, rng):
    x, y = rng.standard_normal((2, 1000)).astype(dtype)
    tolerance = 1e-6 if dtype == np.float32 else 1e-14
    got = y.copy()
    blas.axpy(0.25, x, got)
    np.testing.assert_allclose(got, y + 0.25 * x, rtol=tolerance, atol=tolerance)
    got = y.copy()
    blas.axpby(0.25, x, 0.9, got)
    np.testing.assert_allclose(got, 0.25 * x + 0.9 * y, rtol=tolerance, atol=tolerance)
    assert got.dtype == dtype


def test_strided_operands_take_the_numpy_path(rng):
    x, y = rng.standard_normal((2, 20))
    got = y.copy()
    blas.axpby(2.0, x[::2], 0.5, got[::2])
    np.testing.assert_allclose(got[::2], 2 * x[::2] + 0.5 * y[::2])
    np.testing.assert_array_equal(got[1::2], y[1::2])


def test_parts_split_at_multiples_of_64_give_the_whole_result(rng):
    x, y = rng.standard_normal((2, 1000)).astype(np.float32)
    whole, parts = y.copy(), y.copy()
    blas.axpby(0.01, x, 0.9, whole)
    for part in (slice(0, 128), slice(128, 640), slice(640, 1000)):
        blas.axpby(0.01, x[part], 0.9, parts[part])
    np.testing.assert_array_equal(parts, whole)


def test_the_thread_count_can_be_read_and_set():
    before = blas.blas_threads()
    if before is None:
        pytest.skip("numpy is not built on OpenBLAS here")
    try:
        assert blas.set_blas_threads(1) and blas.blas_threads() == 1
    finally:
        blas.set_blas_threads(before)


def test_the_kernels_in_use_are_named():
    if blas.blas_threads() is None:
        pytest.skip("numpy is not built on OpenBLAS here")
    core = blas.blas_core()
    assert isinstance(core, str) and core.strip()
