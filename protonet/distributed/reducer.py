"""Gradients averaged over the ranks in buckets, each sent while backward goes on (PyTorch DDP's scheme).

The learnable params (those with lr_mult != 0) are grouped, in the order backward finishes them (the
last layer's first), into buckets of about `bucket_bytes`. After each layer's backward, every bucket
whose params are all done (their owning layers lie at or past this layer) is copied into its flat
buffer and summed over the ranks with a non-blocking Iallreduce; `finish` waits for the rest and writes
g = (sum over ranks of g_r) / R back into the diffs. A param shared by several layers is owned by the
first of them, which backward reaches last, so its gradient is complete when its owner is done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..net import LearnableParam, Net
from .comm import World

Observer = Callable[[str, int], None]


@dataclass
class Bucket:
    params: list[LearnableParam]
    ready_at: int  # the lowest owning layer index: the bucket is complete once backward has passed it
    buffer: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.buffer = np.empty(sum(lp.blob.count for lp in self.params), self.params[0].blob.diff.dtype)

    def gather(self) -> None:
        offset = 0
        for lp in self.params:
            self.buffer[offset:offset + lp.blob.count] = lp.blob.diff.reshape(-1)
            offset += lp.blob.count

    def scatter(self, scale: float) -> None:
        self.buffer *= scale
        offset = 0
        for lp in self.params:
            lp.blob.diff.reshape(-1)[...] = self.buffer[offset:offset + lp.blob.count]
            offset += lp.blob.count


class GradientReducer:
    """Averages `net`'s gradients over `world`'s ranks; `overlap` sends buckets during backward."""

    def __init__(self, world: World, net: Net, bucket_bytes: int, overlap: bool = True) -> None:
        self.world, self.overlap = world, overlap
        layer_index = {layer.name: i for i, layer in enumerate(net.layers)}
        params = sorted((lp for lp in net.learnable if lp.lr_mult != 0),
                        key=lambda lp: -layer_index[lp.layer])
        self.buckets: list[Bucket] = []
        group: list[LearnableParam] = []
        for lp in params:
            group.append(lp)
            if sum(p.blob.diff.nbytes for p in group) >= bucket_bytes:
                self.buckets.append(Bucket(group, min(layer_index[p.layer] for p in group)))
                group = []
        if group:
            self.buckets.append(Bucket(group, min(layer_index[p.layer] for p in group)))
        self._sent = 0
        self._requests: list = []

    def watching(self, observer: Observer | None) -> Observer | None:
        """The net observer for the backward pass whose gradients are reduced: `observer` (if any),
        then the start of every bucket that pass has completed."""
        if not self.overlap:
            return observer

        def observe(direction: str, index: int) -> None:
            if observer is not None:
                observer(direction, index)
            if direction == "backward":
                self._send_through(index)
        return observe

    def finish(self) -> None:
        """Send what is left, wait for every bucket and write the averaged gradients back."""
        self._send_through(-1)
        self.world.wait(self._requests)
        for bucket in self.buckets:
            bucket.scatter(1.0 / self.world.size)
        self._sent, self._requests = 0, []

    def _send_through(self, index: int) -> None:
        """Start the buckets complete once backward has reached layer `index`; let the others progress."""
        while self._sent < len(self.buckets) and self.buckets[self._sent].ready_at >= index:
            bucket = self.buckets[self._sent]
            bucket.gather()
            self._requests.append(self.world.start_sum(bucket.buffer))
            self._sent += 1
        if self._requests:
            self.world.progress(self._requests)
