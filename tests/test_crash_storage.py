"""A full disk or a failed write mid-run: a clear StorageError, the previous snapshot intact, nothing
partial or temporary left behind. Also the leftovers of a killed run, which the next run clears."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from pytest import MonkeyPatch

from protonet.errors import StorageError
from protonet.io import append, atomic_write
from protonet.solvers import Solver

from .test_crash_helpers import (
    SMALL_NET,
    SMALL_SOLVER,
    FullDisk,
    check_snapshots,
    run_cli,
    snapshot_iters,
    temporaries,
    write_run,
)


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.fixture
def run(tmp_path: Path) -> tuple[Solver, Path]:
    """A run that wrote its snapshot at iteration 2 (display off, so only snapshots write)."""
    solver = Solver(write_run(tmp_path, SMALL_NET, f"{SMALL_SOLVER} max_iter: 10 snapshot: 2"))
    solver.step(2)
    return solver, tmp_path / "snap"


def test_a_full_disk_while_writing_the_weights(run: tuple[Solver, Path], monkeypatch: MonkeyPatch) -> None:
    solver, snap = run
    before = contents(snap)
    disk = FullDisk(snap, free=100).install(monkeypatch)
    message = (r"s_iter_4\.caffemodel: cannot write the snapshot at iteration 4: No space left on device; "
               r"free some space; the last snapshot .*s_iter_2\.solverstate is intact$")
    with pytest.raises(StorageError, match=message):
        solver.step(2)
    monkeypatch.undo()
    assert disk.failures == 1
    assert contents(snap) == before  # nothing new, partial or temporary; the old files unchanged; no lock
    assert check_snapshots(snap, snap.parent / "net.prototxt") == 2


def test_a_full_disk_while_writing_the_state(run: tuple[Solver, Path], monkeypatch: MonkeyPatch) -> None:
    """The weights fit, their state does not: the new weights go again, so no half snapshot stays."""
    solver, snap = run
    before = contents(snap)
    weights_size = len(before["s_iter_2.caffemodel"])
    FullDisk(snap, free=weights_size + 50).install(monkeypatch)
    message = r"s_iter_4\.solverstate: cannot write the snapshot at iteration 4: .*No space.*_2\.solverstate"
    with pytest.raises(StorageError, match=message):
        solver.step(2)
    monkeypatch.undo()
    assert contents(snap) == before
    assert check_snapshots(snap, snap.parent / "net.prototxt") == 2


def test_a_failed_snapshot_over_an_older_one_of_the_same_iteration_keeps_the_pair(
        run: tuple[Solver, Path], monkeypatch: MonkeyPatch) -> None:
    """Re-snapshotting iteration 2 (as a resumed run may): when the state fails, the old pair still loads."""
    solver, snap = run
    weights_size = len((snap / "s_iter_2.caffemodel").read_bytes())
    FullDisk(snap, free=weights_size + 50).install(monkeypatch)
    with pytest.raises(StorageError, match="s_iter_2.solverstate"):
        solver.snapshot()
    monkeypatch.undo()
    assert snapshot_iters(snap) == [2] and not temporaries(snap)
    assert check_snapshots(snap, snap.parent / "net.prototxt") == 2


def test_a_full_disk_while_appending_metrics(tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    solver = Solver(write_run(tmp_path, SMALL_NET, f"{SMALL_SOLVER} max_iter: 10 display: 1"), record=True)
    solver.step(2)
    metrics = tmp_path / "snap" / "s_metrics.jsonl"
    before = metrics.read_bytes()
    FullDisk(tmp_path / "snap", free=30).install(monkeypatch)  # part of the next line fits
    message = r"s_metrics\.jsonl: cannot write: No space left on device; free some space; the file is as it"
    with pytest.raises(StorageError, match=message):
        solver.step(1)
    monkeypatch.undo()
    assert metrics.read_bytes() == before  # cut back: no partial line
    assert [json.loads(line)["iter"] for line in before.decode().splitlines()] == [0, 1]


def test_a_full_disk_at_the_start_of_a_run(tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    solver = Solver(write_run(tmp_path, SMALL_NET, f"{SMALL_SOLVER} max_iter: 10 snapshot: 2"), record=True)
    FullDisk(tmp_path / "snap", free=10).install(monkeypatch)
    with pytest.raises(StorageError, match=r"s_solver\.prototxt: cannot write: No space left"):
        solver.step(2)
    monkeypatch.undo()
    assert solver.iter == 0
    assert os.listdir(tmp_path / "snap") == []  # nothing partial, and the lock file is gone


def test_atomic_write_and_append_leave_nothing_partial(tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    target, log = tmp_path / "f.bin", tmp_path / "log.txt"
    target.write_bytes(b"old")
    log.write_bytes(b"line 1\n")
    FullDisk(tmp_path, free=4).install(monkeypatch)
    with pytest.raises(StorageError, match=r"f\.bin: cannot write: No space left on device"):
        atomic_write(target, b"new contents")
    with pytest.raises(StorageError, match=r"log\.txt: cannot write: No space left on device"):
        append(log, b"line 2\n")
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["f.bin", "log.txt"]
    assert target.read_bytes() == b"old" and log.read_bytes() == b"line 1\n"


def test_a_killed_runs_temporaries_are_cleared_by_the_next_run(tmp_path: Path) -> None:
    snap = tmp_path / "snap"
    snap.mkdir()
    ours = [".s_iter_4.caffemodel.k2j3h4_a.tmp", ".s_iter_4.solverstate.abcdefgh.tmp",
            ".s_metrics.jsonl.x1.tmp", ".s_solver.prototxt.zz.tmp", ".s_best.caffemodel.q9.tmp"]
    others = [".s_x_iter_4.caffemodel.abcdefgh.tmp", ".t_iter_4.caffemodel.abcdefgh.tmp", ".s_iter_4.tmp",
              "s_iter_4.caffemodel.abcdefgh.tmp"]  # another prefix's, or not atomic_write's
    for name in ours + others:
        (snap / name).write_bytes(b"partial")
    solver = Solver(write_run(tmp_path, SMALL_NET, f"{SMALL_SOLVER} max_iter: 10"), record=True)
    solver.step(1)
    written = ["s_metrics.jsonl", "s_net.prototxt", "s_solver.prototxt"]
    assert sorted(os.listdir(snap)) == sorted(others + written)


@contextlib.contextmanager
def tmpfs(folder: Path, size: str):
    """A small tmpfs mounted at `folder` (a real full disk), or a skip where mounting is not allowed."""
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_real_full_disk_ends_the_cli_with_exit_code_6(tmp_path: Path) -> None:
    """On a 1 MiB tmpfs, snapshots of 2 x ~140 KB fill it after a few: the run stops cleanly."""
    net = SMALL_NET.replace("dim: 2 dim: 8", "dim: 2 dim: 64").replace("num_output: 16", "num_output: 512")
    with tmpfs(tmp_path / "disk", "1m") as disk:
        solver = write_run(disk, net, f"{SMALL_SOLVER} max_iter: 40 snapshot: 2 display: 0")
        done = run_cli(solver)
        snap = disk / "snap"
        assert done.returncode == 6, done.stderr
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith(f"protonet: error: {snap}/s_iter_") and "No space left on device" in last
        assert "cannot write the snapshot at iteration" in last and "is intact" in last
        newest = check_snapshots(snap, disk / "net.prototxt")
        assert newest is not None and newest >= 2
        assert snapshot_iters(snap, "caffemodel") == snapshot_iters(snap)  # no weights without their state
        assert not temporaries(snap) and not (snap / "s.lock").exists()
