"""`protonet test` and `protonet time`: evaluate a net over its test source, and time its layers."""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict

import numpy as np

from .errors import ConfigError
from .net import Net

log = logging.getLogger("protonet")


def full_pass_iterations(net: Net) -> int:
    """Batches in one pass over the net's data source (the largest if it has several)."""
    passes = [math.ceil(layer.num_records / layer.batch_size) for layer in net.layers
              if hasattr(layer, "num_records")]
    if not passes:
        raise ConfigError("the net has no data source to pass over", hint="give --iterations N")
    for layer in net.layers:
        if hasattr(layer, "num_records") and layer.num_records % layer.batch_size:
            log.warning("Note: %d records in batches of %d: the last batch wraps around to the first records",
                        layer.num_records, layer.batch_size)
    return max(passes)


def evaluate(net: Net, iterations: int | None = None, *, progress: bool = False) -> dict[str, float]:
    """Mean of every net output over `iterations` batches (default: one full pass over the source)."""
    from tqdm import tqdm

    iterations = iterations or full_pass_iterations(net)
    sums: dict[str, float] = defaultdict(float)
    for _ in tqdm(range(iterations), desc="test", disable=not progress, leave=False):
        for name, value in net.forward().items():
            sums[name] += float(np.mean(value))
    return {name: total / iterations for name, total in sums.items()}


def time_layers(net: Net, iterations: int = 50) -> tuple[list[tuple[str, str, float, float]], float, float]:
    """Per layer (name, type, forward ms, backward ms), means over `iterations` after one warm-up pass."""
    forward: dict[int, float] = defaultdict(float)
    backward: dict[int, float] = defaultdict(float)
    net.forward_backward()
    for _ in range(iterations):
        for i, layer in enumerate(net.layers):
            bottom, top = net._io(i)
            start = time.perf_counter()
            layer.reshape(bottom, top)
            layer.forward(bottom, top)
            forward[i] += time.perf_counter() - start
        for i in reversed(range(len(net.layers))):
            if not net.layer_needs_backward[i]:
                continue
            bottom, top = net._io(i)
            for w, blob in zip(net.loss_weights[i], top):
                if w:
                    blob.diff.fill(w)
            start = time.perf_counter()
            net.layers[i].backward(top, net.bottom_needs_backward[i], bottom)
            backward[i] += time.perf_counter() - start
    scale = 1000.0 / iterations
    rows = [(layer.name, layer.type, forward[i] * scale, backward[i] * scale) for i, layer in enumerate(net.layers)]
    return rows, sum(r[2] for r in rows), sum(r[3] for r in rows)
