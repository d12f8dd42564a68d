"""keep_best: the comparison rule by hand, the solver's checks, and real runs on the course's XOR net that
keep the best weights, stop when the test no longer improves, and resume with the same record."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from protonet import Solver
from protonet.cli import cli
from protonet.errors import ConfigError
from protonet.proto import pb
from protonet.solvers.best import KeepBest

from .test_solver_helpers import feed_net, make_solver

XOR = Path(__file__).resolve().parents[1] / "configs/course/03_linear_vs_mlp/solver.yaml"


def scores_of(rule: KeepBest, scores: list[float]) -> list[bool]:
    return [rule.update(score, 10 * k) for k, score in enumerate(scores)]


def test_a_test_improves_only_by_more_than_min_delta_in_the_goal_direction() -> None:
    rule = KeepBest("accuracy", maximize=True, min_delta=0.01)
    assert scores_of(rule, [math.nan, 0.5, 0.505, 0.52, 0.2]) == [False, True, False, True, False]
    assert (rule.score, rule.iter, rule.tests_since) == (0.52, 30, 1)
    rule = KeepBest("loss", maximize=False)
    assert scores_of(rule, [2.0, 2.0, 1.5, math.inf, 1.6]) == [True, False, True, False, False]
    assert (rule.score, rule.iter, rule.tests_since) == (1.5, 20, 2)


def test_patience_counts_the_tests_in_a_row_without_an_improvement() -> None:
    rule = KeepBest("accuracy", maximize=True, patience=2)
    for score, exhausted in [(0.5, False), (0.4, False), (0.6, False), (0.6, False), (0.59, True)]:
        rule.update(score, 0)
        assert rule.exhausted == exhausted
    assert not KeepBest("accuracy", maximize=True).exhausted  # patience 0 never stops
    never = KeepBest("loss", maximize=False, patience=1)
    never.update(math.nan, 0)
    assert never.exhausted and never.describe() == "loss (no finite test yet)"


def test_the_record_round_trips_through_the_state() -> None:
    rule = KeepBest("accuracy", maximize=True)
    empty = KeepBest("accuracy", maximize=True, score=0.3)
    empty.restore(rule.record())
    assert empty.score is None  # no test yet
    scores_of(rule, [0.5, 0.7, 0.6])
    copy = KeepBest("accuracy", maximize=True)
    copy.restore(pb.BestRecord.FromString(rule.record().SerializeToString()))
    assert (copy.score, copy.iter, copy.tests_since) == (pytest.approx(0.7), 10, 1)


@pytest.mark.parametrize(("fields", "goal"), [("output: 'acc'", True), ("output: 'loss'", False),
                                              ("output: 'loss' goal: MAXIMIZE", True),
                                              ("output: 'acc' goal: MINIMIZE", False)])
def test_the_goal_follows_the_output_name_unless_given(fields: str, goal: bool) -> None:
    solver = make_solver(feed_net(), f"test_iter: 1 test_interval: 2 keep_best {{ {fields} }}")
    assert solver.best.maximize == goal


@pytest.mark.parametrize(("fields", "message"), [
    ("test_iter: 1 test_interval: 2 keep_best { output: 'los' }",
     r"keep_best: 'los' is not an output of test net 0; did you mean 'loss'"),
    ("test_iter: 1 keep_best { output: 'acc' }", "keep_best: test_interval is not set"),
    ("test_iter: 1 test_interval: 2 keep_best { output: 'acc' test_net: 1 }",
     "keep_best: test_net 1 is not one of the solver's 1 test nets"),
    ("keep_best { output: 'acc' }", "keep_best: test_net 0 is not one of the solver's 0 test nets"),
    ("test_iter: 1 test_interval: 2 keep_best { output: 'acc' patience: -1 }", "patience and min_delta must be >= 0"),
])
def test_a_keep_best_the_run_cannot_follow_is_refused_at_the_start(fields: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_solver(feed_net(), fields)


def xor_solver(prefix: Path, *extra: str) -> Solver:
    return Solver(XOR, overrides=[f"snapshot_prefix={prefix}", "keep_best.output=accuracy_mlp", "snapshot=100",
                                  "display=0", *extra])


def test_a_run_keeps_the_weights_of_its_best_test_and_stops_when_it_no_longer_improves(tmp_path: Path) -> None:
    solver = xor_solver(tmp_path / "run", "keep_best.patience=2", "max_iter=3000")
    solver.solve()
    tests = [json.loads(line) for line in (tmp_path / "run_metrics.jsonl").read_text().splitlines()]
    tests = [(e["iter"], e["outputs"]["accuracy_mlp"]) for e in tests if e["phase"] == "test"]
    best_iter, best = max(tests, key=lambda t: (t[1], -t[0]))  # the first of the highest
    assert best > 0.9  # it learned XOR
    assert (solver.best.iter, solver.best.score) == (best_iter, pytest.approx(best))
    # two tests without an improvement, then the iteration after the second of them
    assert tests[-1][0] == best_iter + 200 and solver.iter == best_iter + 201 < 3000
    assert solver.stopped_early and (tmp_path / f"run_iter_{solver.iter}.solverstate").exists()
    stopped = solver.iter
    solver.step(5)  # asked to go on, it does: the next test decides again
    assert solver.iter == stopped + 5
    # the weights tested at iteration N are the snapshot written at the end of iteration N - 1
    kept = (tmp_path / "run_best.caffemodel").read_bytes()
    assert kept == (tmp_path / f"run_iter_{best_iter}.caffemodel").read_bytes()


def test_a_resumed_run_compares_with_the_same_best(tmp_path: Path) -> None:
    whole = xor_solver(tmp_path / "whole", "max_iter=600")
    whole.solve()
    first = xor_solver(tmp_path / "parts", "max_iter=300")
    first.solve()
    resumed = xor_solver(tmp_path / "parts", "max_iter=600")
    resumed.restore(tmp_path / "parts_iter_300.solverstate")
    assert resumed.best.score == pytest.approx(first.best.score)
    resumed.solve()
    assert (resumed.best.score, resumed.best.iter, resumed.best.tests_since) == \
        (whole.best.score, whole.best.iter, whole.best.tests_since)
    assert (tmp_path / "parts_best.caffemodel").read_bytes() == (tmp_path / "whole_best.caffemodel").read_bytes()


def test_train_names_the_best_weights_at_the_end(tmp_path: Path) -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["train", "--solver", str(XOR), "--no-progress",
                                      "--set", f"snapshot_prefix={tmp_path}/run", "--set", "max_iter=200",
                                      "--set", "keep_best.output=loss_mlp"])
    assert result.exit_code == 0, result.output
    best = [line for line in result.output.splitlines() if line.startswith("best: ")]
    assert best and best[0].startswith(f"best: {tmp_path}/run_best.caffemodel (loss_mlp = ")
    assert np.isfinite(float(best[0].split(" = ")[1].split()[0]))
