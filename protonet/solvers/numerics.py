"""Numerical faults and Caffe's debug_info, both seen through `Net.observer` (called after each layer).

debug_info logs, as Caffe does on display iterations, the mean absolute value of each top's data after
a layer's forward, of each bottom's diff after its backward, and of each param's data and diff.
Finding a fault replays the failed iteration with a check after every layer: the first layer whose
output (forward: a top's data; backward: a bottom's diff or a param's diff) holds a NaN or an inf.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from ..net import Net

log = logging.getLogger("protonet")


def finite(array: np.ndarray) -> bool:
    """No NaN or infinity in `array`: NaN makes the minimum NaN, infinities show in the extremes.

    Two reductions and no temporary array the size of `array` (np.isfinite(a).all() makes one).
    """
    if not array.size:
        return True
    return bool(np.isfinite(array.min()) and np.isfinite(array.max()))


def mean_abs(array: np.ndarray) -> float:
    """Caffe's asum / count (0 for an empty blob)."""
    return float(np.abs(array).sum(dtype=np.float64)) / array.size if array.size else 0.0


class DebugInfo:
    """An observer that logs per-layer statistics of one forward-backward pass (Caffe's debug_info)."""

    def __init__(self, net: Net) -> None:
        self.net = net

    def __call__(self, direction: str, i: int) -> None:
        net, layer = self.net, self.net.layers[i]
        if direction == "forward":
            for name in net.top_names[i]:
                log.info("    [Forward] Layer %s, top blob %s data: %.6g", layer.name, name,
                         mean_abs(net.blobs[name].data))
            for k, blob in enumerate(layer.blobs):
                log.info("    [Forward] Layer %s, param blob %d data: %.6g", layer.name, k,
                         mean_abs(blob.data))
            return
        for name, needed in zip(net.bottom_names[i], net.bottom_needs_backward[i], strict=True):
            if needed:
                log.info("    [Backward] Layer %s, bottom blob %s diff: %.6g", layer.name, name,
                         mean_abs(net.blobs[name].diff))
        for k, blob in enumerate(layer.blobs):
            log.info("    [Backward] Layer %s, param blob %d diff: %.6g", layer.name, k, mean_abs(blob.diff))


def log_param_norms(net: Net) -> None:
    """Caffe's line after a debug_info backward pass: L1 and L2 norms over all learnable data and diffs."""
    sums = np.zeros(4)
    for lp in net.learnable:
        data, diff = lp.blob.data, lp.blob.diff
        sums += (np.abs(data).sum(dtype=np.float64), np.abs(diff).sum(dtype=np.float64),
                 np.square(data, dtype=np.float64).sum(), np.square(diff, dtype=np.float64).sum())
    log.info("    [Backward] All net params (data, diff): L1 norm = (%.6g, %.6g); L2 norm = (%.6g, %.6g)",
             sums[0], sums[1], math.sqrt(sums[2]), math.sqrt(sums[3]))


def log_update(net: Net) -> None:
    """After the update: each learnable param's data and the update just subtracted (its diff)."""
    for lp in net.learnable:
        log.info("    [Update] Layer %s, param %d data: %.6g; diff: %.6g", lp.layer, lp.index,
                 mean_abs(lp.blob.data), mean_abs(lp.blob.diff))


class NonFinite(Exception):
    """Raised by FaultFinder at the first layer whose output is not finite."""

    def __init__(self, layer: str, direction: str) -> None:
        super().__init__(layer, direction)
        self.layer, self.direction = layer, direction


class FaultFinder:
    """An observer that raises NonFinite after the first layer whose output holds a NaN or an inf."""

    def __init__(self, net: Net) -> None:
        self.net = net

    def __call__(self, direction: str, i: int) -> None:
        net, layer = self.net, self.net.layers[i]
        if direction == "forward":
            bad = any(not finite(net.blobs[name].data) for name in net.top_names[i])
        else:
            bad = any(needed and not finite(net.blobs[name].diff)
                      for name, needed in zip(net.bottom_names[i], net.bottom_needs_backward[i], strict=True))
            bad = bad or any(not finite(blob.diff) for blob in layer.blobs)
        if bad:
            raise NonFinite(layer.name, direction)


def find_fault(net: Net, passes: int) -> NonFinite | None:
    """Run `passes` forward-backward passes from cleared param diffs, checking every layer's output; the
    first fault, or None when all stayed finite. The caller first rewinds the net's generator and data
    cursors to where the failed iteration began, so the replay sees the same batches."""
    net.clear_param_diffs()
    net.observer = FaultFinder(net)
    try:
        for _ in range(passes):
            net.forward_backward()
    except NonFinite as fault:
        return fault
    finally:
        net.observer = None
    return None


def first_non_finite(arrays: list[np.ndarray]) -> int | None:
    """The index of the first array holding a NaN or an inf, else None."""
    return next((k for k, array in enumerate(arrays) if not finite(array)), None)


def clip_by_global_norm(diffs: list[np.ndarray], clip: float) -> None:
    """Caffe's ClipGradients: scale every gradient by clip / ||g|| when the L2 norm of all of them together,
    ||g|| = sqrt(sum_k <g_k, g_k>), exceeds `clip` (off when clip < 0)."""
    if clip < 0:
        return
    norm = math.sqrt(sum(float(np.vdot(g, g)) for g in diffs))
    if norm > clip:
        scale = clip / norm
        log.info("Gradient clipping: scaling down gradients (L2 norm %.6g > %.6g) by scale factor %.6g",
                 norm, clip, scale)
        for g in diffs:
            g *= scale
