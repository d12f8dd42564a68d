"""keep_best: the best test so far, its weights kept as `<prefix>_best.caffemodel`, and early stopping.

After each test of the watched net, its output's mean s (over the test_iter batches) improves on the
best b when s > b + min_delta (MAXIMIZE) or s < b - min_delta (MINIMIZE); the first finite test always
does, a non-finite one never. With `patience` P > 0, the run stops after P tests in a row without an
improvement (Keras' EarlyStopping and ModelCheckpoint(save_best_only), Lightning's ModelCheckpoint).
The record (best, its iteration, tests since) travels in the .solverstate, so a resumed run compares
with the same best.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigError, did_you_mean
from ..net import Net
from ..proto import pb

Goal = pb.KeepBestParameter.Goal


@dataclass
class KeepBest:
    """The watched output, the rule that compares tests, and the record so far."""

    output: str
    maximize: bool
    test_net: int = 0
    patience: int = 0
    min_delta: float = 0.0
    score: float | None = None
    iter: int = 0
    tests_since: int = 0

    @classmethod
    def from_param(cls, param: pb.SolverParameter, test_nets: list[Net], file: str | None) -> KeepBest | None:
        """The solver's keep_best, checked against its test nets (None when it has none)."""
        if not param.HasField("keep_best"):
            return None
        p = param.keep_best

        def fail(message: str, hint: str) -> ConfigError:
            return ConfigError(f"keep_best: {message}", file=file, hint=hint)

        if not 0 <= p.test_net < len(test_nets):
            raise fail(f"test_net {p.test_net} is not one of the solver's {len(test_nets)} test nets",
                       hint="count the test nets from 0, as in test_iter; a net needs a TEST phase and test_iter")
        if param.test_interval <= 0:
            raise fail("test_interval is not set, so no test runs during training", hint="set test_interval")
        net = test_nets[p.test_net]
        if p.output not in net.outputs:
            raise fail(f"'{p.output}' is not an output of test net {p.test_net}",
                       hint=did_you_mean(p.output, net.outputs) or f"outputs: {', '.join(net.outputs)}")
        if net.blobs[p.output].count != 1:
            raise fail(f"output '{p.output}' has {net.blobs[p.output].count} values, not one",
                       hint="watch a scalar output, such as a loss or an accuracy without a second top")
        if p.patience < 0 or p.min_delta < 0:
            raise fail(f"patience and min_delta must be >= 0, found {p.patience} and {p.min_delta:g}",
                       hint="patience 0 never stops early")
        maximize = p.goal == Goal.MAXIMIZE or (p.goal == Goal.AUTO and "loss" not in p.output)
        return cls(p.output, maximize, p.test_net, p.patience, p.min_delta)

    def update(self, score: float, iteration: int) -> bool:
        """Count the test of `score` at `iteration`; True when it is the new best."""
        better = math.isfinite(score) and (
            self.score is None
            or (score > self.score + self.min_delta if self.maximize else score < self.score - self.min_delta))
        if better:
            self.score, self.iter, self.tests_since = score, iteration, 0
        else:
            self.tests_since += 1
        return better

    @property
    def exhausted(self) -> bool:
        """Whether `patience` tests in a row have passed without an improvement."""
        return 0 < self.patience <= self.tests_since

    def describe(self) -> str:
        if self.score is None:
            return f"{self.output} (no finite test yet)"
        return f"{self.output} = {self.score:.6g} at iteration {self.iter}"

    def record(self) -> pb.BestRecord:
        record = pb.BestRecord(iter=self.iter, tests_since=self.tests_since)
        if self.score is not None:
            record.score = self.score
        return record

    def restore(self, record: pb.BestRecord) -> None:
        self.score = record.score if record.HasField("score") else None
        self.iter, self.tests_since = record.iter, record.tests_since
