"""`<prefix>.lock`: a second run on the same snapshot prefix fails at once, naming the first one's pid;
the lock a killed run leaves behind is stale and taken over."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import time
from pathlib import Path

import pytest

from protonet.errors import StorageError
from protonet.lock import RunLock
from protonet.solvers import Solver

from .test_crash_helpers import SMALL_NET, SMALL_SOLVER, run_cli, snapshot_iters, spawn_cli, write_run


def wait_for(condition: object, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_a_second_run_fails_naming_the_first_and_a_stale_lock_is_taken_over(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    solver_file = write_run(tmp_path, SMALL_NET, f"{SMALL_SOLVER} max_iter: 100000000 snapshot: 3")
    lock = tmp_path / "snap" / "s.lock"
    first = spawn_cli(solver_file)
    try:
        wait_for(lambda: lock.is_file() and lock.read_text().startswith(f"{first.pid} "), "the first's lock")
        wait_for(lambda: snapshot_iters(tmp_path / "snap"), "the first run's first snapshot")
        holder = f"(pid {first.pid} on host {socket.gethostname()})"
        second = Solver(solver_file, record=True)
        message = rf"s\.lock: snapshot prefix '.*/snap/s' is in use by another run {re.escape(holder)}; "
        with pytest.raises(StorageError, match=message):
            second.step(1)
        assert second.iter == 0
        done = run_cli(solver_file)  # the CLI: exit code 6 and the same one line
        assert done.returncode == 6
        assert done.stderr.strip().splitlines()[-1].endswith(
            f"is in use by another run {holder}; wait for that run to end or stop it, or use another "
            "snapshot_prefix")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    assert lock.read_text().split()[0] == str(first.pid)  # left behind by the killed run: stale
    with caplog.at_level(logging.INFO, logger="protonet"):
        second.step(1)
    assert second.iter == 1
    assert f"(pid {first.pid} on host {socket.gethostname()}, no longer running)" in caplog.text
    assert not lock.exists()  # released (and removed) when the step ends


def test_the_lock_is_reentrant_for_its_holder_and_exclusive_otherwise(tmp_path: Path) -> None:
    path = tmp_path / "run.lock"
    lock = RunLock(path, "prefix 'run'")
    with lock, lock:
        assert path.read_text() == f"{os.getpid()} {socket.gethostname()}\n"
        other = RunLock(path, "prefix 'run'")
        with pytest.raises(StorageError, match=rf"prefix 'run' is in use by another run \(pid {os.getpid()}"):
            other.__enter__()
        assert path.is_file()  # the inner exit keeps it
    assert not path.exists()
    with RunLock(path, "prefix 'run'"):  # free again
        assert path.is_file()


def test_a_lock_file_in_an_unwritable_place(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"nowhere/run\.lock: cannot create the lock file"):
        RunLock(tmp_path / "nowhere" / "run.lock", "prefix").__enter__()
