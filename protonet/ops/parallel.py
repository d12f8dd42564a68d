"""Batch parts on several threads: numpy releases the GIL in its products, copies and ufuncs, so the
parts of one batch run at once on several cores, each thread with its own work arrays.

The thread count is PROTONET_THREADS (default 1: everything in the calling thread) or `set_threads`.
With more than one, numpy's BLAS is set to one thread per product (set_blas_threads), once: the layers
split their products themselves (convolutions by batch parts, inner products by rows), and OpenBLAS's
own workers, which spin for a while after each product, would take the cores from the parts.

Measured on a 2-core AMD EPYC (idle), 2 threads: CIFAR-10 quick's conv2 forward and backward over a batch
of 100 (20 parts): 45.0 ms with OpenBLAS on 2 threads and the parts one after the other, 21.8 ms with
the parts on 2 threads and OpenBLAS on 1 (41.2 ms on one core). Whole training steps: see
protonet.bench; switching OpenBLAS between 2 threads and 1 around each parallel region instead was
slower than either (LeNet 13.3 ms against 10.0 and 9.8), its spinning workers competing with the parts.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import numpy as np

from ..errors import ConfigError
from .blas import set_blas_threads

VARIABLE = "PROTONET_THREADS"
MIN_SPLIT_FLOPS = 4e6  # smaller products run whole: a hand-over to a thread costs some 20 us
_state: dict[str, object] = {"threads": None, "blas_products": False}
_workers: list[_Worker] = []
_busy = threading.Lock()  # held while parts run: a second caller (another thread, or a part) runs serially


def threads() -> int:
    """How many threads batch parts run on: set_threads' count, else $PROTONET_THREADS, else 1."""
    if _state["threads"] is None:
        text = os.environ.get(VARIABLE, "").strip() or "1"
        if not text.isdigit() or int(text) < 1:
            raise ConfigError(f"{VARIABLE} must be a positive integer, found '{text}'",
                              hint="unset it for one thread, or give the number of cores to use")
        set_threads(int(text))
    return _state["threads"]  # type: ignore[return-value]


def set_threads(count: int) -> None:
    """Run batch parts on `count` threads from now on (and, when more than one, BLAS on one)."""
    if count < 1:
        raise ValueError(f"thread count must be positive, got {count}")
    _state["threads"] = count
    if count > 1:
        set_blas_threads(1)


def set_product_threads(blas: bool) -> None:
    """Run `matmul`'s products on OpenBLAS's own threads (True) rather than split over protonet's (False,
    the default). A net whose layers run no batch parts of their own (inner products only) gains from
    OpenBLAS's threads, a net that does loses, as OpenBLAS's workers spin on the cores the parts need
    after each product (2 threads, idle machine: the MLP 2.0 -> 1.4-1.7 ms, LeNet 15 -> 24 ms). The Net
    sets it on every pass (see Net.forward_from_to)."""
    _state["blas_products"] = blas


def parts(total: int, count: int, minimum: int = 1) -> list[slice]:
    """range(total) in at most `count` near-equal slices of at least `minimum` items (one slice at least)."""
    count = max(1, min(count, total // max(minimum, 1)))
    bounds = [total * k // count for k in range(count + 1)]
    return [slice(bounds[k], bounds[k + 1]) for k in range(count)]


def deal(sizes: tuple[int, ...], count: int, minimum: int, block: int = 64) -> list[list[tuple[int, slice]]]:
    """Elementwise work on arrays of `sizes` dealt to `count` threads: per thread, the (array, flat part)
    pairs it runs. An array of `minimum` elements or more is cut in one part per thread at multiples of
    `block` (so that vector loops meet the same elements in any split: the same result), the parts are
    dealt largest first to the least loaded thread; threads left without work are dropped."""
    blocks = [parts(size // block, count, minimum=minimum // block) for size in sizes]
    work = sorted(((k, slice(part.start * block, size if part.stop == size // block else part.stop * block))
                   for k, size in enumerate(sizes) for part in blocks[k]),
                  key=lambda item: item[1].start - item[1].stop)
    plan: list[list[tuple[int, slice]]] = [[] for _ in range(count)]
    loads = [0] * count
    for k, part in work:
        t = loads.index(min(loads))
        plan[t].append((k, part))
        loads[t] += part.stop - part.start
    return [sorted(items, key=lambda item: item[0]) for items in plan if items]


class _Worker(threading.Thread):
    """A thread that runs one part at a time, handed over through two locks (a few us, against some 30
    for a ThreadPoolExecutor future)."""

    def __init__(self) -> None:
        super().__init__(name="protonet-part", daemon=True)
        self._go, self._done = threading.Lock(), threading.Lock()
        self._go.acquire()
        self._done.acquire()
        self._task: tuple[Callable[[int], None], int] | None = None
        self._error: BaseException | None = None
        self.start()

    def run(self) -> None:
        while True:
            self._go.acquire()
            work, k = self._task
            try:
                work(k)
            except BaseException as error:  # noqa: BLE001 (handed to the caller)
                self._error = error
            self._done.release()

    def submit(self, work: Callable[[int], None], k: int) -> None:
        self._task, self._error = (work, k), None
        self._go.release()

    def wait(self) -> BaseException | None:
        self._done.acquire()
        return self._error


def run(work: Callable[[int], None], count: int) -> None:
    """work(0), ..., work(count - 1) at once, work(0) in the calling thread; the first exception is raised
    once all have ended."""
    if count <= 1 or not _busy.acquire(blocking=False):
        for k in range(count):
            work(k)
        return
    try:
        while len(_workers) < count - 1:
            _workers.append(_Worker())
        for k in range(1, count):
            _workers[k - 1].submit(work, k)
        try:
            work(0)
        finally:
            errors = [_workers[k - 1].wait() for k in range(1, count)]
        for error in errors:
            if error is not None:
                raise error
    finally:
        _busy.release()


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """out = a @ b for 2-D arrays, its longer side (rows of a, or columns of b) spread over the threads (or,
    after set_product_threads(True), on as many OpenBLAS threads)."""
    count = threads()
    if count == 1 or 2 * a.shape[0] * a.shape[1] * b.shape[1] < MIN_SPLIT_FLOPS:
        np.matmul(a, b, out=out)
        return
    if _state["blas_products"]:
        set_blas_threads(count)
        try:
            np.matmul(a, b, out=out)
        finally:
            set_blas_threads(1)
        return
    if a.shape[0] >= b.shape[1]:
        rows = parts(a.shape[0], count, minimum=16)
        run(lambda k: np.matmul(a[rows[k]], b, out=out[rows[k]]), len(rows))
    else:
        cols = parts(b.shape[1], count, minimum=16)
        run(lambda k: np.matmul(a, b[:, cols[k]], out=out[:, cols[k]]), len(cols))
