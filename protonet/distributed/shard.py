"""Each rank's share of a train net's inputs: its records (every data layer reads the records whose
offset is rank mod ranks, as Caffe 1.0's do) and its own random stream (crops, mirrors, dropout)."""

from __future__ import annotations

import logging

from ..data.reader import RecordReader
from ..net import Net
from ..solvers.state import readers

log = logging.getLogger("protonet")
UNSHARDED = ("DummyData", "Input", "MemoryData", "Python")  # layers that may make inputs without reading records


def shard_net(net: Net, rank: int, ranks: int) -> None:
    """Shard every record-reading layer of `net`; rank r > 0 draws from its generator jumped r times
    (PCG64.jumped: 2^127 steps apart, so the streams never overlap), rank 0 from the net's own."""
    for layer in readers(net):
        if isinstance(getattr(layer, "reader", None), RecordReader):
            layer.reader.shard(rank, ranks)
    for layer in net.layers:
        if layer.param.type in UNSHARDED and not layer.param.bottom and rank == 0:
            log.warning("Layer '%s' (%s) is not sharded: every rank gets the inputs it makes", layer.name,
                        layer.param.type)
    if rank:
        generator = net.ctx.rng.bit_generator
        generator.state = generator.jumped(rank).state
