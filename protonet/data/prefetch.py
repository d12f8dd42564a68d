"""Background prefetch: a thread runs ahead of the net, keeping up to `depth` batches ready (Caffe's
`prefetch: 4`).

Batches are asked for by tag (the Data layer's tag is (record offset, seed)). The producer, started
at a tag, yields (batch, next tag) pairs; while the tags asked for follow one another the queue is
used as it is, and any other tag (a seek, a resume, a replay) stops the thread, drops what it had
read ahead and starts it again there. So what the net sees depends only on the tags, never on timing.

Shutdown: an error in the producer is raised in the caller's thread at the next `get` and ends the
thread; `close()` (called when the layer is collected, and for every live prefetcher at interpreter
exit) stops it, the producer's `finally` blocks (read transactions) running in its own thread.
The thread is a daemon: nothing it does can keep the process from ending (SIGINT included).
"""

from __future__ import annotations

import atexit
import queue
import threading
import weakref
from collections.abc import Callable, Hashable, Iterator
from typing import Any

POLL_S = 0.1  # how often a blocked thread or caller checks for a stop or a dead peer
Producer = Callable[[Any], Iterator[tuple[Any, Hashable]]]  # tag -> (batch, next tag), ...

_live: weakref.WeakSet[Prefetcher] = weakref.WeakSet()


class Prefetcher:
    """Batches from `produce(tag)`, made up to `depth` ahead in a thread named `name`."""

    def __init__(self, produce: Producer, depth: int, name: str) -> None:
        self._produce, self._depth, self._name = produce, max(1, depth), name
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._queue: queue.Queue = queue.Queue()
        self._expected: Hashable = None  # the tag of the next batch the running thread delivers
        _live.add(self)

    def get(self, tag: Hashable) -> Any:
        """The batch for `tag`; raises what the producer raised."""
        if self._thread is None or tag != self._expected:
            self._start(tag)
        while True:
            try:
                kind, item, following = self._queue.get(timeout=POLL_S)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    raise RuntimeError(f"the prefetch thread '{self._name}' ended unexpectedly") from None
        if kind == "error":
            self.close()
            raise item
        self._expected = following
        return item

    def close(self) -> None:
        """Stop the thread (it finishes the batch at hand) and drop what it had read ahead."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            if thread is not threading.current_thread():  # a collection run by the thread itself closes it too
                thread.join()
        self._queue = queue.Queue()

    def _start(self, tag: Hashable) -> None:
        self.close()
        self._stop = threading.Event()
        self._queue = queue.Queue(maxsize=self._depth)
        self._expected = tag
        self._thread = threading.Thread(target=_run, args=(self._produce, tag, self._queue, self._stop),
                                        name=self._name, daemon=True)
        self._thread.start()


def _run(produce: Producer, tag: Hashable, out: queue.Queue, stop: threading.Event) -> None:
    """The thread: put (kind, batch or error, next tag) entries until stopped, or after an error."""
    batches = produce(tag)
    try:
        for batch, following in batches:
            if not _put(out, ("batch", batch, following), stop):
                return
    except Exception as exc:  # handed to the caller, raised there
        _put(out, ("error", exc, None), stop)
    finally:
        batches.close()


def _put(out: queue.Queue, entry: tuple, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            out.put(entry, timeout=POLL_S)
            return True
        except queue.Full:
            continue
    return False


@atexit.register
def _close_all() -> None:
    for prefetcher in list(_live):
        prefetcher.close()
