"""What a solver's snapshot holds and how a run resumes from one: Caffe's SolverState (iteration, lr step,
the update rule's history blobs, learned_net) plus protonet's own fields (the nets' random generators and
seeds, the data layers' read positions, the loss-smoothing window), so that a resumed run ends with the
same weights, bit for bit, as one that never stopped."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import WeightsError
from ..layers.base import Layer
from ..net import Net
from ..proto import pb
from ..weights import array_to_blobproto, blob_fits, blobproto_to_array
from .best import KeepBest
from .rule import UpdateRule
from .snapshot import decode_random_state, encode_random_state, learned_net_path, read_state

log = logging.getLogger("protonet")


class Parallel(Protocol):
    """What the Solver asks of a data-parallel run (protonet.distributed.DataParallel): rank 0 alone
    writes, tests and logs; gradients and loss are averaged; signals are agreed on; every rank's own
    generator and read positions go into the state."""

    is_root: bool
    size: int

    def watching(self, observer: Callable[[str, int], None] | None) -> Callable[[str, int], None] | None: ...
    def average(self, loss: float) -> float: ...
    def agree(self, iteration: int, action: str, weights: list[np.ndarray]) -> str: ...
    def gather_ranks(self, state: pb.SolverState, solver: Resumable) -> None: ...
    def restore_rank(self, state: pb.SolverState, solver: Resumable, path: str) -> None: ...


class Resumable:
    """Solver's state and restore (a base of Solver, whose attributes these read and set)."""

    param: pb.SolverParameter
    rule: UpdateRule
    seed: int
    current_step: int
    losses: deque[float]
    last_snapshot: tuple[int, str] | None
    _iter: int
    _net: Net
    _test_nets: list[Net]
    parallel: Parallel | None
    best: KeepBest | None

    def state(self, learned_net: str = "") -> pb.SolverState:
        """The solver state: Caffe's fields plus generator states, data cursors and the loss window."""
        state = pb.SolverState(iter=self._iter, current_step=self.current_step)
        if learned_net:
            state.learned_net = learned_net
        for array in self.rule.state_arrays():
            state.history.add().CopyFrom(array_to_blobproto(array))
        nets = self._nets()
        state.random_state = encode_random_state([net.ctx.seed for net in nets],
                                                 [net.ctx.rng.bit_generator.state for net in nets])
        for name, layer in self._cursor_layers():
            position, epoch = layer.cursor()
            state.data_cursor.add(layer=name, position=position, epoch=epoch)
        state.recent_loss.extend(self.losses)
        if self.best:
            state.best.CopyFrom(self.best.record())
        if self.parallel:
            self.parallel.gather_ranks(state, self)
        return state

    def restore(self, state_file: str | Path) -> None:
        """Continue from a .solverstate: weights (learned_net), iteration, histories, generators, cursors."""
        log.info("Restoring previous solver status from %s", state_file)
        state = read_state(state_file)
        self._check_ranks(state, state_file)
        histories = self._check_history(state, state_file)
        seeds, rng_states = decode_random_state(state.random_state, state_file)
        if state.learned_net:
            self._net.copy_from(learned_net_path(state, state_file))
        for target, array in zip(self.rule.state_arrays(), histories, strict=True):
            target[...] = array.reshape(target.shape)
        self._iter, self.current_step = state.iter, state.current_step
        for net, rng_state in zip(self._nets(), rng_states, strict=False):
            net.ctx.rng.bit_generator.state = rng_state
        for net, seed in zip(self._nets(), seeds, strict=False):
            net.ctx.seed = seed  # for layers that derive streams from the seed (shuffled epochs)
        if seeds and seeds[0] is not None:
            self.seed = seeds[0]
        layers = dict(self._cursor_layers())
        for cursor in state.data_cursor:
            if cursor.layer in layers:
                layers[cursor.layer].seek(cursor.position, cursor.epoch)
            else:
                log.warning("The state has a data cursor for layer '%s', which this net lacks", cursor.layer)
        if self.parallel:
            self.parallel.restore_rank(state, self, str(state_file))
        if self.best and state.HasField("best"):
            self.best.restore(state.best)
        self.losses.clear()
        self.losses.extend(state.recent_loss)
        self.last_snapshot = (self._iter, str(state_file))
        log.info("Resuming at iteration %d", self._iter)

    def _check_ranks(self, state: pb.SolverState, path: str | Path) -> None:
        """A WeightsError unless the state was written by a run of as many ranks as this one: each rank's
        read position and random stream are its own, and resuming them on another count is not exact."""
        written, ranks = len(state.rank_state) or 1, self.parallel.size if self.parallel else 1
        if written != ranks:
            counted = f"{written} rank{'s' * (written > 1)}"
            raise WeightsError(f"the state was written by a run of {counted}, this run has {ranks}", file=str(path),
                               hint=f"resume it with {counted} (`protonet train --ranks {written}` or "
                                    f"`mpirun -n {written}`), or start a new run from its .caffemodel with --weights")

    def _check_history(self, state: pb.SolverState, path: str | Path) -> list[np.ndarray]:
        targets = self.rule.state_arrays()
        if len(state.history) != len(targets):
            raise WeightsError(f"the state holds {len(state.history)} history blobs, the {self.param.type} "
                               f"solver needs {len(targets)} for this net", file=str(path),
                               hint="was it written for another net or another solver type?")
        arrays = []
        for k, (blob, target) in enumerate(zip(state.history, targets, strict=True)):
            array = blobproto_to_array(blob, file=str(path))
            if not blob_fits(array.shape, target.shape):
                raise WeightsError(f"history blob {k} has shape {list(array.shape)}, the net needs "
                                   f"{list(target.shape)}", file=str(path),
                                   hint="was it written for another net?")
            arrays.append(array)
        return arrays

    def _nets(self) -> list[Net]:
        return [self._net, *self._test_nets]

    def _cursor_layers(self) -> list[tuple[str, Layer]]:
        """Layers with a read position, by state name: the layer's name in the train net, `test<k>/<name>` in
        test net k."""
        found = []
        for k, net in enumerate(self._nets()):
            tag = "" if k == 0 else f"test{k - 1}/"
            found += [(tag + layer.name, layer) for layer in readers(net)]
        return found


def readers(net: Net) -> list[Layer]:
    """The layers with a read position: cursor() -> (position, epoch) and seek(position, epoch)."""
    return [layer for layer in net.layers
            if callable(getattr(layer, "cursor", None)) and callable(getattr(layer, "seek", None))]
