"""`protonet test` and `protonet time`: evaluate a net over its test source, and time its layers."""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError
from .net import Net
from .summary import product_flops

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


@dataclass(frozen=True)
class LayerTime:
    """One layer's mean forward and backward milliseconds, and the FLOPs of its matrix products in each
    (backward: the weight gradient, and the data gradient when the bottom takes one; 0 without products)."""

    name: str
    type: str
    forward_ms: float
    backward_ms: float
    forward_flops: int = 0
    backward_flops: int = 0


def time_layers(net: Net, iterations: int = 50) -> list[LayerTime]:
    """Every layer's LayerTime: means over `iterations` after one warm-up pass, as `caffe time`."""
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
    rows = []
    for i, layer in enumerate(net.layers):
        flops = product_flops(net, i)
        gradients = (1 + any(net.bottom_needs_backward[i][:1])) if net.layer_needs_backward[i] else 0
        rows.append(LayerTime(layer.name, layer.type, forward[i] * scale, backward[i] * scale, flops,
                              flops * gradients))
    return rows


def format_times(rows: list[LayerTime], reference_gflops: float | None = None) -> str:
    """`caffe time`'s table and totals, with the rate of each layer's products (GFLOP/s) and, when given,
    the BLAS's rate on a square product beside them."""
    lines = [f"{'layer':<24} {'type':<20} {'forward ms':>11} {'backward ms':>12} {'fwd GFLOP/s':>12} "
             f"{'bwd GFLOP/s':>12}"]
    for r in rows:
        lines.append(f"{r.name:<24} {r.type:<20} {r.forward_ms:>11.3f} {r.backward_ms:>12.3f} "
                     f"{_rate(r.forward_flops, r.forward_ms):>12} {_rate(r.backward_flops, r.backward_ms):>12}")
    forward, backward = sum(r.forward_ms for r in rows), sum(r.backward_ms for r in rows)
    flops = sum(r.forward_flops + r.backward_flops for r in rows)
    lines += [f"Average Forward pass: {forward:.3f} ms.", f"Average Backward pass: {backward:.3f} ms.",
              f"Average Forward-Backward: {forward + backward:.3f} ms."]
    if flops:
        line = f"Products: {flops / 1e9:.3f} GFLOP per forward-backward"
        if reference_gflops:
            line += (f"; at the BLAS's square-product rate of {reference_gflops:.1f} GFLOP/s they alone take "
                     f"{flops / reference_gflops / 1e6:.2f} ms")
        lines.append(line + ".")
    return "\n".join(lines)


def _rate(flops: int, ms: float) -> str:
    return f"{flops / ms / 1e6:.1f}" if flops and ms > 0 else ""
