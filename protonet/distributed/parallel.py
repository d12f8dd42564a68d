"""DataParallel: what the Solver's hooks do in a data-parallel run (Caffe's multi-GPU semantics).

Every rank runs the net's own batch on its share of the records, so one iteration sees R x batch_size
records. Rank 0's initial weights are broadcast; after backward the gradients (and the loss) are
averaged over the ranks, so that clipping, weight decay and the update rule then see what one process
with a batch R times larger would: the mean gradient over R*B records. Every rank applies that same
update; every `weight_check_interval` iterations the ranks compare a CRC-32 of their weights. Rank 0
alone tests, logs and writes; a snapshot's state holds every rank's generator and read positions.
"""

from __future__ import annotations

import logging
import os
import zlib

import numpy as np

from ..errors import ConfigError, NumericalError, WeightsError
from ..proto import pb
from ..solvers import Solver
from ..solvers.signals import NONE, SNAPSHOT, STOP
from ..solvers.snapshot import decode_random_state, encode_random_state
from ..solvers.state import readers
from .comm import World
from .reducer import GradientReducer, Observer
from .shard import shard_net

log = logging.getLogger("protonet")
STRENGTH = (NONE, SNAPSHOT, STOP)  # a stop snapshots too


class ReplicaError(NumericalError):
    """The ranks' weights differ: an update was not the same everywhere."""


class DataParallel:
    """Joins a Solver to the other ranks of `world`; `overlap` sends gradient buckets during backward."""

    def __init__(self, world: World, overlap: bool = True) -> None:
        self.world = world
        self.overlap = overlap
        self.reducer: GradientReducer | None = None
        self.check_interval = 0

    @property
    def is_root(self) -> bool:
        return self.world.is_root

    @property
    def size(self) -> int:
        return self.world.size

    def attach(self, solver: Solver) -> Solver:
        """Make `solver` one rank of the job: rank 0's weights everywhere, the data sharded, the hooks on."""
        if solver.rule.needs_objective:
            raise ConfigError(f"the {solver.param.type} solver re-evaluates the objective within an iteration, "
                              "which data-parallel training does not do", hint="use SGD, Adam or another rule")
        net = solver.net
        for param in net.learnable:  # each blob once, shared ones included
            self.world.broadcast(param.blob.data)
        shard_net(net, self.world.rank, self.world.size)
        self.reducer = GradientReducer(self.world, net, solver.param.allreduce_bucket_kb * 1024, self.overlap)
        self.check_interval = solver.param.weight_check_interval
        solver.parallel = self
        pids = ", ".join(f"{rank}: pid {pid}" for rank, pid in enumerate(self.world.all_gather(os.getpid())))
        log.info("Data-parallel over %d ranks (%s), %d gradient buckets", self.size, pids, len(self.reducer.buckets))
        return solver

    # -- one iteration ----------------------------------------------------------------------------

    def watching(self, observer: Observer | None) -> Observer | None:
        """The net observer of the backward pass whose gradients are averaged."""
        return self.reducer.watching(observer)

    def average(self, loss: float) -> float:
        """Average the gradients (waiting for the buckets) and return the loss averaged over the ranks."""
        self.reducer.finish()
        return float(self.world.sum(np.array([loss]))[0]) / self.size

    def agree(self, iteration: int, action: str, weights: list[np.ndarray]) -> str:
        """The action every rank takes after the update: the strongest any rank's signals asked for
        (stop, then snapshot, then none); every check_interval iterations the weights are compared."""
        action = STRENGTH[self.world.maximum(STRENGTH.index(action))]
        if self.check_interval and iteration % self.check_interval == 0:
            self.check_weights(iteration, weights)
        return action

    def check_weights(self, iteration: int, weights: list[np.ndarray]) -> None:
        """A ReplicaError on every rank when the ranks' weights differ (compared by CRC-32)."""
        crc = 0
        for array in weights:
            crc = zlib.crc32(np.ascontiguousarray(array), crc)
        crcs = self.world.all_gather(crc)
        differing = [rank for rank, other in enumerate(crcs) if other != crcs[0]]
        if differing:
            raise ReplicaError(f"at iteration {iteration} the weights of rank {differing[0]} differ from rank 0's "
                               f"(CRC-32 {crcs[differing[0]]:08x} against {crcs[0]:08x})",
                               hint="every rank must run the same protonet, numpy and solver files")

    # -- snapshots --------------------------------------------------------------------------------

    def gather_ranks(self, state: pb.SolverState, solver: Solver) -> None:
        """Add every rank's train-net generator and read positions to rank 0's `state` (all ranks call it)."""
        mine = pb.RankState(random_state=encode_random_state([solver.net.ctx.seed],
                                                             [solver.net.ctx.rng.bit_generator.state]))
        for layer in readers(solver.net):
            position, epoch = layer.cursor()
            mine.data_cursor.add(layer=layer.name, position=position, epoch=epoch)
        for data in self.world.gather_bytes(mine.SerializeToString()) or []:
            state.rank_state.add().ParseFromString(data)

    def restore_rank(self, state: pb.SolverState, solver: Solver, path: str) -> None:
        """Put this rank's generator and read positions back from a state `gather_ranks` filled."""
        mine = state.rank_state[self.world.rank]
        _, generators = decode_random_state(mine.random_state, path)
        if len(generators) != 1:
            raise WeightsError(f"rank {self.world.rank}'s random generator state is missing", file=path,
                               hint="the file is truncated or corrupt; resume from an older snapshot")
        solver.net.ctx.rng.bit_generator.state = generators[0]
        layers = {layer.name: layer for layer in readers(solver.net)}
        for cursor in mine.data_cursor:
            if cursor.layer not in layers:
                raise WeightsError(f"rank {self.world.rank}'s state has a read position for layer "
                                   f"'{cursor.layer}', which this net lacks", file=path)
            layers[cursor.layer].seek(cursor.position, cursor.epoch)
