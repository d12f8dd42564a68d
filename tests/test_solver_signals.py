"""SIGINT / SIGHUP / SIGTERM during training: snapshot, stop or nothing; old handlers come back."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from protonet.errors import ConfigError
from protonet.solvers import SignalHandler

from .test_solver_helpers import feed_net, make_solver


def solver_in(folder: Path, fields: str = ""):
    return make_solver(feed_net(), f'max_iter: 4 snapshot_prefix: "{folder}/s" {fields}')


def snapshot_iters(folder: Path) -> list[int]:
    return sorted(int(p.stem.rsplit("_", 1)[1]) for p in folder.glob("s_iter_*.solverstate"))


def test_sighup_snapshots_and_continues(tmp_path: Path) -> None:
    solver = solver_in(tmp_path, "snapshot_after_train: false")
    with SignalHandler() as signals:
        os.kill(os.getpid(), signal.SIGHUP)
        solver.solve(signals)
    assert solver.iter == 4 and not solver.stopped_early
    assert snapshot_iters(tmp_path) == [1]


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_sigint_and_sigterm_snapshot_then_stop(name: str, tmp_path: Path) -> None:
    solver = solver_in(tmp_path, "snapshot_after_train: false")  # a stop snapshots anyway
    with SignalHandler() as signals:
        os.kill(os.getpid(), getattr(signal, name))
        solver.solve(signals)
    assert solver.iter == 1 and solver.stopped_early
    assert snapshot_iters(tmp_path) == [1]


def test_a_stop_during_a_test_snapshots_before_training(tmp_path: Path) -> None:
    solver = solver_in(tmp_path, "test_iter: 2 test_interval: 2")
    with SignalHandler() as signals:
        signals.request("stop")
        solver.solve(signals)
    assert solver.iter == 0 and solver.stopped_early
    assert snapshot_iters(tmp_path) == [0]


def test_none_ignores_the_signal(tmp_path: Path) -> None:
    solver = solver_in(tmp_path, "snapshot_after_train: false")
    with SignalHandler(sigint="none", sighup="none") as signals:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGHUP)
        solver.solve(signals)
    assert solver.iter == 4 and snapshot_iters(tmp_path) == []


def test_a_second_sigint_interrupts_at_once() -> None:
    with pytest.raises(KeyboardInterrupt), SignalHandler() as signals:
        os.kill(os.getpid(), signal.SIGINT)
        assert signals.poll() == "stop"
        os.kill(os.getpid(), signal.SIGINT)


def test_old_handlers_come_back() -> None:
    def mine(number: int, frame: object) -> None:
        raise AssertionError("not expected")

    old = signal.signal(signal.SIGHUP, mine)
    try:
        with SignalHandler():
            assert signal.getsignal(signal.SIGHUP) is not mine
        assert signal.getsignal(signal.SIGHUP) is mine
    finally:
        signal.signal(signal.SIGHUP, old)


def test_poll_gives_stop_before_snapshot_and_clears() -> None:
    signals = SignalHandler()
    signals.request("snapshot")
    assert signals.poll() == "snapshot"
    assert signals.poll() == "none"
    signals.request("snapshot")
    signals.request("stop")
    assert signals.poll() == "stop"


def test_unknown_effects_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown sigint effect 'stopp'; did you mean 'stop'"):
        SignalHandler(sigint="stopp")
