"""Solver: Caffe's training loop (solver.cpp, sgd_solver.cpp) over a train net and its test nets.

One iteration, in Caffe's order: clear the param diffs; test when due; iter_size x forward_backward
(loss averaged); display; the update (lr policy -> clip all gradients by their global L2 norm -> per
param: normalise by 1/iter_size, regularise, update rule, W -= update; or, for Newton and LBFGS, one
step of the rule over the whole objective, re-evaluated on the iteration's batch: solvers/objective.py);
iter += 1; poll signals; snapshot when due.

No lost work: a non-finite loss or gradient stops training before the update, a non-finite parameter
right after it (a NumericalError naming the iteration and the first layer at fault), so the snapshots
on disk stay good; every file is written atomically, a snapshot's weights before its state; a lock
file keeps a second run off the same snapshot prefix; a killed run's temporary files are cleared by
the next run on its prefix.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..config import save
from ..errors import ConfigError, NumericalError
from ..io import atomic_write
from ..layers.base import Layer
from ..lock import RunLock
from ..net import LearnableParam, Net
from ..ops import parallel
from ..proto import pb
from .best import KeepBest
from .build import RULES, build_net, load, net_seeds, net_specs, resolved, snapshot_prefix, validate
from .lr_policy import learning_rate
from .monitor import Monitor
from .numerics import DebugInfo, clip_by_global_norm, find_fault, finite, first_non_finite, log_param_norms, log_update
from .objective import Objective
from .signals import NONE, SNAPSHOT, STOP, SignalHandler
from .snapshot import (
    best_path,
    check_writable,
    remove_temporaries,
    run_files,
    snapshot_paths,
    write_snapshot,
)
from .state import Parallel, Resumable, readers
from .tensorboard import TensorBoard

log = logging.getLogger("protonet")

Weights = str | Path | list[str | Path] | None
Position = tuple[dict, list[tuple[Layer, tuple[int, int]]]]  # a generator state, data layers' cursors
MIN_SPLIT_ELEMENTS = 1 << 16  # smaller params are updated whole: a hand-over to a thread costs some 20 us


class Solver(Resumable):
    """Trains the net a solver file (prototxt/YAML) or a pb.SolverParameter describes.

    `overrides` are "key=value" strings applied to the solver before it is checked; `weights` (a path
    or list of paths) are copied in by layer name for fine-tuning, except the layers in `reinit`;
    `progress` shows a tqdm bar on stderr. Then `solve()` trains to max_iter (after `restore()` when
    resuming), or `step(n)` runs n iterations.

    Run files (`<prefix>_solver.prototxt` and `_net.prototxt`, the resolved configs, and `_metrics.jsonl`)
    are written by `solve()`, and by `step()` only when `record` is true: a solver stepped from a notebook
    or a test harness writes nothing but the snapshots its solver file asks for. `tensorboard` names a
    folder for TensorBoard event files of the same metrics, written when the run files are.
    """

    def __init__(self, solver: str | Path | pb.SolverParameter, overrides: list[str] | None = None, *,
                 weights: Weights = None, reinit: tuple[str, ...] | list[str] = (), progress: bool = False,
                 dtype: type | np.dtype = np.float32, record: bool = False,
                 tensorboard: str | Path | None = None) -> None:
        self.param, self.source, net_overrides = load(solver, overrides)
        file = str(self.source) if self.source else None
        validate(self.param, file)
        self.specs = net_specs(self.param, self.source, net_overrides)
        self.prefix = snapshot_prefix(self.param, self.source, self.specs[0].param.name)
        self.seed, seeds = net_seeds(self.param.random_seed, len(self.specs))
        self._net = build_net(self.specs[0], seeds[0], dtype)
        self._test_nets = [build_net(spec, seed, dtype)
                           for spec, seed in zip(self.specs[1:], seeds[1:], strict=True)]
        for net in self._test_nets:
            net.share_with(self._net)
        if self.param.snapshot_format == pb.SolverParameter.HDF5:
            log.warning("snapshot_format HDF5 is not supported: writing binary proto snapshots instead")
        learnable = self._net.learnable
        self.rule = RULES[self.param.type](self.param, [p.blob.shape for p in learnable], np.dtype(dtype))
        self._iter = 0
        self.current_step = 0
        self.losses: deque[float] = deque(maxlen=self.param.average_loss)
        self.test_scores: list[dict[str, float | np.ndarray]] = [{} for _ in self._test_nets]
        self.best = KeepBest.from_param(self.param, self._test_nets, file)
        self._no_improvement = False  # keep_best's patience ran out at the last test: stop
        self.stopped_early = False
        self.last_snapshot: tuple[int, str] | None = None
        self.monitor = Monitor(None, progress)
        self.record = record
        self.tensorboard = tensorboard
        self._recording = False
        self._plan: tuple[object, list[list[tuple[int, slice]]]] = (None, [])  # (threads, sizes) -> the update plan
        self._lock: RunLock | None = None
        self._probed = False  # the snapshot folder was found writable
        self.parallel: Parallel | None = None  # one rank of a data-parallel run: protonet.distributed
        self._copy_weights(weights, reinit)

    # -- the public surface ---------------------------------------------------------------------

    @property
    def net(self) -> Net:
        return self._net

    @property
    def test_nets(self) -> list[Net]:
        return self._test_nets

    @property
    def iter(self) -> int:
        """Updates done so far."""
        return self._iter

    @property
    def lr(self) -> float:
        """The learning rate of the next update."""
        return learning_rate(self.param, self._iter, self.current_step)[0]

    @property
    def smoothed_loss(self) -> float:
        """Mean of the last average_loss iteration losses (nan before the first)."""
        return sum(self.losses) / len(self.losses) if self.losses else math.nan

    def solve(self, signals: SignalHandler | None = None) -> None:
        """Train to max_iter from the current iteration; snapshot at the end (snapshot_after_train)."""
        with self._writing():
            self._record_run()
            self._solve(signals)

    def _solve(self, signals: SignalHandler | None) -> None:
        log.info("Solving %s", self._net.name)
        log.info("Learning Rate Policy: %s", self.param.lr_policy)
        self.step(self.param.max_iter - self._iter, signals)
        if self.param.snapshot_after_train and not self._snapshotted():
            self._snapshot_if_possible()
        if self.stopped_early:
            log.info("Optimization stopped early.")
            return
        display = self.param.display
        if display and self._iter % display == 0:
            self._net.forward()
            self._record_loss(self._net.loss)
            self.monitor.train(self._iter, self.smoothed_loss, self.lr, self._net)
        if self._test_due(after_train=True):
            self.test_all(signals)
        log.info("Optimization Done.")

    def step(self, iters: int, signals: SignalHandler | None = None) -> None:
        """Run `iters` iterations (fewer when a signal asks to stop; a stop always snapshots)."""
        if not self.record:
            if self.param.snapshot and self.prefix and self._writer and not self._probed:
                check_writable(self.prefix)  # before training, as Caffe: not at the first snapshot
                self._probed = True
            self._step(iters, signals)
            return
        with self._writing():
            self._record_run()
            self._step(iters, signals)

    def _step(self, iters: int, signals: SignalHandler | None) -> None:
        stop_iter = self._iter + iters
        self.stopped_early = self._no_improvement = False
        with self.monitor.running(self._iter, stop_iter):
            while self._iter < stop_iter and not self.stopped_early:
                self._net.clear_param_diffs()
                if self._test_due():
                    self.test_all(signals)
                    if self.stopped_early:
                        break
                display = bool(self.param.display) and self._iter % self.param.display == 0
                debug = display and self.param.debug_info
                self._forward_backward(debug)
                rate, self.current_step = self._rate()
                if display:
                    self.monitor.train(self._iter, self.smoothed_loss, rate, self._net)
                self._apply_update(rate)
                if debug:
                    log_update(self._net)
                self._iter += 1
                self.monitor.tick(self.smoothed_loss, rate)
                action = STOP if self._no_improvement else signals.poll() if signals else NONE
                if self.parallel:
                    action = self.parallel.agree(self._iter, action, [lp.blob.data for lp in self._net.learnable])
                snapshot_due = self.param.snapshot and self._iter % self.param.snapshot == 0
                if snapshot_due or action == SNAPSHOT:
                    self.snapshot()
                self.stopped_early = action == STOP
        if self.stopped_early:
            why = "no improvement" if self._no_improvement else "as requested"
            log.info("Stopping at iteration %d, %s", self._iter, why)
            if not self._snapshotted():
                self._snapshot_if_possible()

    def test_all(self, signals: SignalHandler | None = None) -> list[dict[str, float | np.ndarray]]:
        """Run every test net for its test_iter batches; per net, the mean of each output (a float when
        the output has one value, else a flat array), also kept in `test_scores`. In a data-parallel run
        (rank 0 alone tests) signals wait for the iteration's end, where all ranks act on them together."""
        signals = None if self.parallel else signals
        for k in range(len(self._test_nets)):
            if self.stopped_early:
                break
            self._test(k, signals)
        return self.test_scores

    # -- one iteration --------------------------------------------------------------------------

    def _forward_backward(self, debug: bool = False) -> None:
        """iter_size passes accumulate the gradients; their mean loss joins the smoothing window.

        A non-finite loss or gradient stops training before the update (the weights stay as they were).
        """
        net, size = self._net, self.param.iter_size
        start = self._read_position()
        observer = DebugInfo(net) if debug else None
        losses = []
        try:
            for k in range(size):  # a data-parallel run sends the gradients during the last backward pass
                net.observer = self.parallel.watching(observer) if self.parallel and k == size - 1 else observer
                losses.append(net.forward_backward())
            loss = sum(losses) / size
        finally:
            net.observer = None
        if debug:
            log_param_norms(net)
        if not math.isfinite(loss) or first_non_finite([lp.blob.diff for lp in net.learnable]) is not None:
            raise self._non_finite(loss, start)
        if self.parallel:
            loss = self.parallel.average(loss)
        self._record_loss(loss)
        self._pass = start, loss  # where the iteration's batch began, for rules that re-evaluate it

    def _record_loss(self, loss: float) -> None:
        self.losses.append(float(np.float32(loss)))  # float32, as the state stores it: resume shows the same

    def _rate(self) -> tuple[float, int]:
        rate, step = learning_rate(self.param, self._iter, self.current_step)
        if self.param.lr_policy == "multistep" and step != self.current_step:
            log.info("MultiStep Status: Iteration %d, step = %d", self._iter, step)
        return rate, step

    def _apply_update(self, rate: float) -> None:
        """Clip over all params, then per param: normalise, regularise, rule, W -= update. Elementwise, so
        the params run in flat parts over the threads of ops.parallel (the same result for any split);
        a parameter the update made non-finite (an overflow: too large a learning rate) stops training."""
        clip_by_global_norm([lp.blob.diff for lp in self._net.learnable], self.param.clip_gradients)
        self.rule.begin(self._iter)
        bad: list[int] = []
        if self.rule.needs_objective:
            bad = self._objective_update(rate)
        else:
            arrays = [(lp.blob.data.reshape(-1), lp.blob.diff.reshape(-1)) for lp in self._net.learnable]
            plan = self._update_plan()
            parallel.run(lambda t: bad.extend(self._update_parts(plan[t], arrays, rate)), len(plan))
        if bad:
            lp = self._net.learnable[min(bad)]
            raise NumericalError(f"parameter {lp.index} became non-finite in the update at iteration "
                                 f"{self._iter}", layer=lp.layer, hint=self._numerical_hint())

    def _update_parts(self, work: list[tuple[int, slice]], arrays: list[tuple[np.ndarray, np.ndarray]],
                      rate: float) -> list[int]:
        """Update the (param, flat part) pairs of `work`; returns the params left non-finite."""
        p, bad = self.param, []
        for k, part in work:
            lp, (w, g) = self._net.learnable[k], arrays[k]
            w, g = w[part], g[part]
            if p.iter_size > 1:
                g *= 1.0 / p.iter_size
            self.rule.regularise(part, w, g, lp.decay_mult, rate * lp.lr_mult)
            self.rule.compute(k, part, g, rate * lp.lr_mult, self._iter)
            w -= g
            if not finite(w):
                bad.append(k)
        return bad

    def _objective_update(self, rate: float) -> list[int]:
        """A rule that re-evaluates the objective on this iteration's batch (Newton, LBFGS) moves every
        param at once; returns the params left non-finite."""
        start, loss = self._pass
        objective = Objective(self._net, self.rule, self.param.iter_size, lambda: self._rewind(start), loss,
                              self._iter)
        self.rule.step(objective, rate)
        return [k for k, lp in enumerate(self._net.learnable) if not finite(lp.blob.data)]

    def _update_plan(self) -> list[list[tuple[int, slice]]]:
        """Per thread, the (param, flat part) pairs it updates (ops.parallel.deal), kept while the thread
        count and the params stay the same."""
        sizes = tuple(lp.blob.count for lp in self._net.learnable)
        key = (parallel.threads(), sizes)
        if self._plan[0] != key:
            self._plan = key, parallel.deal(sizes, key[0], MIN_SPLIT_ELEMENTS)
        return self._plan[1]

    def _test_due(self, after_train: bool = False) -> bool:
        interval = self.param.test_interval
        if not (self._test_nets and interval and self._iter % interval == 0 and self._writer):
            return False
        return after_train or self._iter > 0 or self.param.test_initialization

    def _test(self, k: int, signals: SignalHandler | None) -> None:
        net = self._test_nets[k]
        log.info("Iteration %d, Testing net (#%d)", self._iter, k)
        sums: dict[str, np.ndarray] = {}
        loss = 0.0
        count = self.param.test_iter[k]
        for _ in range(count):
            action = signals.poll() if signals else NONE
            if action == SNAPSHOT:
                self.snapshot()
            elif action == STOP:
                self.stopped_early = True
                log.info("Test interrupted.")
                return
            outputs = net.forward()
            loss += net.loss
            for name, value in outputs.items():
                if name in sums:
                    sums[name] += value.ravel()
                else:
                    sums[name] = value.astype(np.float64).ravel()
        if self.param.test_compute_loss:
            log.info("Test loss: %.6g", loss / count)
        self.test_scores[k] = {name: float(total[0]) / count if total.size == 1 else total / count
                               for name, total in sums.items()}
        self.monitor.test(self._iter, k, loss / count, self.lr, self.test_scores[k], net)
        if self.best and k == self.best.test_net:
            self._keep_best(self.test_scores[k][self.best.output])

    def _keep_best(self, score: float) -> None:
        """Count this test in keep_best's record: write the weights when it is the best so far, ask for a
        stop when patience has run out."""
        best = self.best
        if best.update(score, self._iter):
            if self.prefix:
                with self._writing():
                    atomic_write(best_path(self.prefix), self._net.to_proto().SerializeToString())
                log.info("New best: %s; wrote %s", best.describe(), best_path(self.prefix))
            else:
                log.info("New best: %s (no snapshot_prefix: its weights are not written)", best.describe())
        elif best.exhausted:
            log.info("No improvement on %s in %d tests: stopping early", best.describe(), best.tests_since)
            self._no_improvement = True

    def _read_position(self) -> Position:
        """Where the train net's generator and data layers stand, to replay an iteration from."""
        cursors = [(layer, layer.cursor()) for layer in readers(self._net)]
        return self._net.ctx.rng.bit_generator.state, cursors

    def _rewind(self, start: Position) -> None:
        """Put the train net's generator and data layers back where `_read_position` found them."""
        rng_state, cursors = start
        self._net.ctx.rng.bit_generator.state = rng_state
        for layer, (position, epoch) in cursors:
            layer.seek(position, epoch)

    def _non_finite(self, loss: float, start: Position) -> NumericalError:
        """The error for a failed iteration, naming the first layer whose output was non-finite: found
        by replaying the iteration from `start` with a check after every layer."""
        self._rewind(start)
        fault = find_fault(self._net, self.param.iter_size)
        what = f"the loss is {loss}" if not math.isfinite(loss) else "a gradient is non-finite"
        if fault is None:
            found = " (a replay of the iteration stayed finite: no layer found)"
        elif fault.direction == "forward":
            found = f"; layer '{fault.layer}' is the first to output a non-finite value (forward)"
        else:
            found = f"; layer '{fault.layer}' is the first to output a non-finite gradient (backward)"
        return NumericalError(f"{what} at iteration {self._iter}{found}", hint=self._numerical_hint())

    def _first_bad_param(self) -> LearnableParam | None:
        learnable = self._net.learnable
        k = first_non_finite([lp.blob.data for lp in learnable])
        return None if k is None else learnable[k]

    def _numerical_hint(self) -> str:
        last = f"; the last good snapshot is {self.last_snapshot[1]}" if self.last_snapshot else ""
        return f"lower base_lr or set clip_gradients; debug_info (--debug-info) shows per-layer values{last}"

    # -- files ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold `<prefix>.lock` (re-entrant) while writing under the prefix: a second run on the same prefix
        fails at once with a StorageError naming this one's pid. The folder is checked writable first, and
        what a killed run left half written is cleared when the lock is first taken."""
        if not self.prefix or not self._writer:
            yield
            return
        first = self._lock is None
        if first:
            check_writable(self.prefix)
            self._probed = True
            self._lock = RunLock(f"{self.prefix}.lock", f"snapshot prefix '{self.prefix}'")
        with self._lock:
            if first:
                for name in remove_temporaries(self.prefix):
                    log.info("Removed %s, a temporary file a stopped run left behind", name)
            yield

    def _record_run(self) -> None:
        """Once per Solver, before its first recorded iteration (prefix locked): write the resolved configs
        and start the metrics file and TensorBoard's."""
        if self._recording or not self._writer:
            return
        self._recording = True
        if self.tensorboard is not None:
            self.monitor.tensorboard = TensorBoard(self.tensorboard, self._iter)
        if not self.prefix:
            return
        files = run_files(self.prefix)
        save(resolved(self.param, self.specs, self.seed, self.prefix), files["solver"])
        save(self.specs[0].param, files["net"])
        self.monitor.metrics_path = Path(files["metrics"])
        self.monitor.begin(self._iter)

    @property
    def _writer(self) -> bool:
        """Whether this process writes the run's files, tests and logs: rank 0 of a data-parallel run."""
        return self.parallel is None or self.parallel.is_root

    def _snapshotted(self) -> bool:
        return self.last_snapshot is not None and self.last_snapshot[0] == self._iter

    def _snapshot_if_possible(self) -> None:
        if self.prefix:
            self.snapshot()
        else:
            log.info("No snapshot_prefix: not writing a snapshot at iteration %d", self._iter)

    def snapshot(self) -> str:
        """Write `<prefix>_iter_<N>.caffemodel`, then its `.solverstate`, atomically; returns the latter."""
        if not self.prefix:
            raise ConfigError("cannot snapshot: snapshot_prefix is not set", hint="set snapshot_prefix")
        bad = self._first_bad_param()
        if bad is not None:
            raise NumericalError(f"parameter {bad.index} has non-finite values at iteration {self._iter}",
                                 layer=bad.layer, hint="snapshot not written; lower base_lr")
        model, state_path = snapshot_paths(self.prefix, self._iter)
        if not self._writer:  # another rank of a data-parallel run: only its part of rank 0's state
            self.parallel.gather_ranks(pb.SolverState(), self)
        else:
            state = self.state(model).SerializeToString()  # in a data-parallel run, with every rank's part
            weights = self._net.to_proto(with_diff=self.param.snapshot_diff).SerializeToString()
            with self._writing():
                self.monitor.sync()
                log.info("Snapshotting to binary proto file %s", model)
                log.info("Snapshotting solver state to binary proto file %s", state_path)
                last = self.last_snapshot[1] if self.last_snapshot else None
                write_snapshot(self._iter, weights, state, self.prefix, last)
        self.last_snapshot = (self._iter, state_path)
        return state_path

    def _copy_weights(self, weights: Weights, reinit: tuple[str, ...] | list[str]) -> None:
        """Fine-tuning: copy weights files in by layer name (the `weights` argument, else the solver's)."""
        if weights is None:
            files = [w.strip() for item in self.param.weights for w in item.split(",") if w.strip()]
        else:
            files = [weights] if isinstance(weights, (str, Path)) else list(weights)
        for path in files:
            log.info("Finetuning from %s", path)
            self._net.copy_from(path, reinit=reinit, log=log.info)
            for net in self._test_nets:
                net.copy_from(path, reinit=reinit)

