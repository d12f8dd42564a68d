"""numpy's BLAS thread count, read and set at run time through OpenBLAS's own C functions (via ctypes, as
threadpoolctl does, without depending on it).

Measured on a 2-core AMD EPYC (Zen 4), numpy 2.4 with OpenBLAS 0.3.31, protonet's own workloads:
- Idle machine: 2 BLAS threads speed a step up (LeNet training 15.5 -> 10.6 ms, CIFAR-10 quick about
  125 -> 78 ms) although all non-product numpy work stays on one core. OpenBLAS's idle worker spins
  for a while after each product (OPENBLAS_THREAD_TIMEOUT, default 2^28 cycles) on the other core;
  making it sleep at once (OPENBLAS_THREAD_TIMEOUT=4) was slower everywhere, as every product then
  wakes it (LeNet 11.4-12.0 ms against 10.5-10.7, MLP 1.01-1.06 against 0.94-0.96, CIFAR-10 quick
  83 against 78, LeNet inference at batch 1 0.235 against 0.205), so protonet leaves the default.
- Busy machine (other processes on both cores): OpenBLAS splits each product statically and its
  threads wait for one another, so every product waits for a descheduled thread: CIFAR-10 quick's
  `protonet time` took 710-836 ms per step at 2 threads against 199 ms at 1, the timeout setting
  making no difference. There, one BLAS thread (OPENBLAS_NUM_THREADS=1, or set_blas_threads(1)) is
  the robust choice.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np

PREFIXES = ("scipy_", "")  # numpy's own OpenBLAS build prefixes its symbols, and takes 64-bit integers
SUFFIXES = ("64_", "")
REALS = {np.dtype(np.float32): ("s", ctypes.c_float), np.dtype(np.float64): ("d", ctypes.c_double)}


@cache
def _openblas(name: str) -> tuple[Callable, type] | None:
    """OpenBLAS's C function `name` (openblas_get_num_threads, cblas_saxpy...) in the copy numpy loaded,
    with its integer type, or None (not Linux, or numpy built on another BLAS). Looked up once: numpy's
    libraries stay loaded."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    paths = {line.split()[-1] for line in maps.splitlines() if "openblas" in line.lower() and "/" in line}
    for path in sorted(paths):
        library = ctypes.CDLL(path)
        for prefix in PREFIXES:
            for suffix in SUFFIXES:
                function = getattr(library, f"{prefix}{name}{suffix}", None)
                if function is not None:
                    return function, ctypes.c_int64 if suffix else ctypes.c_int
    return None


def blas_threads() -> int | None:
    """The number of threads numpy's OpenBLAS uses for a product (None when it cannot be asked)."""
    found = _openblas("openblas_get_num_threads")
    return None if found is None else int(found[0]())


def blas_core() -> str | None:
    """The CPU kernels numpy's OpenBLAS runs (Haswell, SkylakeX...: its choice for the CPU, or
    $OPENBLAS_CORETYPE's), or None."""
    found = _openblas("openblas_get_corename")
    if found is None:
        return None
    found[0].restype = ctypes.c_char_p
    return found[0]().decode()


def set_blas_threads(count: int) -> bool:
    """Make numpy's OpenBLAS use `count` threads from now on; False when it cannot be told."""
    found = _openblas("openblas_set_num_threads")
    if found is None:
        return False
    function, integer = found
    function(integer(count))
    return True


def square_product_gflops(size: int = 1024, repeats: int = 3) -> float:
    """The BLAS's rate on a float32 (size x size) @ (size x size) product, 2 * size^3 FLOPs, in GFLOP/s:
    the best of `repeats` after one warm-up (what the products of a layer can be set against)."""
    rng = np.random.default_rng(0)
    a, b = rng.random((size, size), dtype=np.float32), rng.random((size, size), dtype=np.float32)
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


@cache
def _level1(name: str, dtype: np.dtype) -> Callable | None:
    """cblas_<s|d><name> for float32/float64 with its argument types set, or None."""
    if dtype not in REALS:
        return None
    letter, real = REALS[dtype]
    found = _openblas(f"cblas_{letter}{name}")
    if found is None:
        return None
    function, integer = found
    scalars = {"axpy": (real,), "axpby": (real, real)}[name]
    function.argtypes = [integer, scalars[0], ctypes.c_void_p, integer, *scalars[1:], ctypes.c_void_p, integer]
    function.restype = None
    return function


def _blas_operands(x: np.ndarray, y: np.ndarray) -> bool:
    return x.dtype == y.dtype and x.size == y.size and x.flags.c_contiguous and y.flags.c_contiguous


def axpy(alpha: float, x: np.ndarray, y: np.ndarray) -> None:
    """y += alpha * x (Caffe's caffe_axpy): one pass through OpenBLAS for contiguous float arrays of one
    dtype, else numpy (a temporary and two passes). Elementwise: parts of arrays split at multiples of 64
    elements give the whole arrays' result."""
    function = _level1("axpy", x.dtype) if _blas_operands(x, y) else None
    if function is None:
        y += alpha * x
        return
    function(x.size, alpha, x.ctypes.data, 1, y.ctypes.data, 1)


def axpby(alpha: float, x: np.ndarray, beta: float, y: np.ndarray) -> None:
    """y = alpha * x + beta * y (Caffe's caffe_cpu_axpby), as `axpy`."""
    function = _level1("axpby", x.dtype) if _blas_operands(x, y) else None
    if function is None:
        y *= beta
        y += alpha * x
        return
    function(x.size, alpha, x.ctypes.data, 1, beta, y.ctypes.data, 1)
