"""What a run reports: Caffe-style log lines on the "protonet" logger, a JSON-lines metrics file
(`<prefix>_metrics.jsonl`, one object per display or test event) and an optional tqdm bar."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..io import append, atomic_write, fsync_file
from ..net import Net
from .tensorboard import TensorBoard

log = logging.getLogger("protonet")

Outputs = dict[str, np.ndarray]


class Monitor:
    def __init__(self, metrics_path: str | None, progress: bool) -> None:
        self.metrics_path = Path(metrics_path) if metrics_path else None
        self.progress = progress
        self.bar = None
        self.tensorboard: TensorBoard | None = None
        self.started = time.perf_counter()

    def begin(self, iteration: int) -> None:
        """Start the metrics file: empty for a fresh run, else keep the events before `iteration`."""
        path = self.metrics_path
        if path is None:
            return
        kept = ""
        if iteration > 0 and path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines()
            kept = "".join(line + "\n" for line in lines if _event_iter(line) < iteration)
        atomic_write(path, kept.encode())

    def event(self, **fields: object) -> None:
        """Append one JSON line (whole, or not at all: a full disk leaves the file as it was); also to
        TensorBoard when asked."""
        fields["seconds"] = round(time.perf_counter() - self.started, 3)
        if self.metrics_path is not None:
            append(self.metrics_path, (json.dumps(fields) + "\n").encode())
        if self.tensorboard is not None:
            self.tensorboard.event(fields)

    def sync(self) -> None:
        """Flush the metrics to disk (at each snapshot, so they survive a crash as the snapshot does)."""
        if self.tensorboard is not None:
            self.tensorboard.flush()
        if self.metrics_path is not None and self.metrics_path.is_file():
            fsync_file(self.metrics_path)

    def train(self, iteration: int, loss: float, lr: float, net: Net) -> None:
        """A display iteration: the smoothed loss, the train net's outputs, the learning rate."""
        outputs = {name: net.blobs[name].data for name in net.outputs}
        log.info("Iteration %d, loss = %s", iteration, _g(loss))
        log_outputs("Train", outputs, loss_weights(net))
        log.info("Iteration %d, lr = %s", iteration, _g(lr))
        self.event(iter=iteration, phase="train", loss=loss, lr=lr, outputs=plain(outputs))

    def test(self, iteration: int, k: int, loss: float, lr: float, outputs: Outputs, net: Net) -> None:
        """Test net k's mean outputs."""
        log_outputs("Test", outputs, loss_weights(net))
        self.event(iter=iteration, phase="test", net=k, loss=loss, lr=lr, outputs=plain(outputs))

    @contextlib.contextmanager
    def running(self, start: int, stop: int) -> Iterator[None]:
        """A progress bar from `start` to `stop` (when asked for), with log lines printed above it; the
        TensorBoard events are flushed at the end."""
        try:
            with self._bar(start, stop):
                yield
        finally:
            if self.tensorboard is not None:
                self.tensorboard.flush()

    @contextlib.contextmanager
    def _bar(self, start: int, stop: int) -> Iterator[None]:
        if not self.progress:
            yield
            return
        from tqdm import tqdm
        from tqdm.contrib.logging import logging_redirect_tqdm

        bar = tqdm(total=stop, initial=start, unit="it", file=sys.stderr, dynamic_ncols=True, desc="train")
        with logging_redirect_tqdm(_loggers_with_handlers()), bar as self.bar:
            try:
                yield
            finally:
                self.bar = None

    def tick(self, loss: float, lr: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix(loss=_g(loss, 4), lr=_g(lr, 3), refresh=False)
            self.bar.update(1)


def _loggers_with_handlers() -> list[logging.Logger]:
    """The loggers on the way from "protonet" to the root that hold handlers: only their handlers print,
    so only they are moved above the bar (a handler added to one that has none prints every line twice,
    once itself and once through the logger it propagates to)."""
    found, logger = [], log
    while logger is not None:
        if logger.handlers:
            found.append(logger)
        logger = logger.parent if logger.propagate else None
    return found


def loss_weights(net: Net) -> dict[str, float]:
    """Output blob -> its loss weight, for the outputs that are losses."""
    weights: dict[str, float] = {}
    for names, values in zip(net.top_names, net.loss_weights, strict=True):
        for name, weight in zip(names, values, strict=True):
            if weight:
                weights[name] = weight
    return weights


def log_outputs(kind: str, outputs: Outputs, weights: dict[str, float]) -> None:
    """One line per output value, as Caffe: `Test net output #0: accuracy = 0.98`."""
    index = 0
    for name, values in outputs.items():
        weight = weights.get(name, 0.0)
        for value in np.ravel(values):
            loss = f" (* {_g(weight)} = {_g(weight * value)} loss)" if weight else ""
            log.info("    %s net output #%d: %s = %s%s", kind, index, name, _g(value), loss)
            index += 1


def plain(outputs: Outputs) -> dict[str, float | list[float]]:
    """Outputs for JSON: a number for a scalar, a flat list otherwise."""
    return {name: float(np.ravel(v)[0]) if np.size(v) == 1 else [float(x) for x in np.ravel(v)]
            for name, v in outputs.items()}


def _g(value: float, digits: int = 6) -> str:
    return f"{float(value):.{digits}g}"


def _event_iter(line: str) -> float:
    try:
        return float(json.loads(line)["iter"])
    except (ValueError, KeyError, TypeError):
        return float("inf")
