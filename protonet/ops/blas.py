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
from collections.abc import Callable
from functools import cache
from pathlib import Path

PREFIXES = ("scipy_openblas_", "openblas_")
SUFFIXES = ("64_", "")


@cache
def _openblas(name: str) -> Callable | None:
    """OpenBLAS's C function `name` (get_num_threads, set_num_threads) in the copy numpy loaded, or None
    (not Linux, or numpy built on another BLAS). Looked up once: numpy's libraries stay loaded."""
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
                    return function
    return None


def blas_threads() -> int | None:
    """The number of threads numpy's OpenBLAS uses for a product (None when it cannot be asked)."""
    import numpy  # noqa: F401  (OpenBLAS is loaded with numpy)

    function = _openblas("get_num_threads")
    return None if function is None else int(function())


def set_blas_threads(count: int) -> bool:
    """Make numpy's OpenBLAS use `count` threads from now on; False when it cannot be told."""
    import numpy  # noqa: F401

    function = _openblas("set_num_threads")
    if function is None:
        return False
    function(ctypes.c_int(count))
    return True
