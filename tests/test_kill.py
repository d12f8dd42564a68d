"""No lost work: `protonet train` killed at 20 moments (SIGKILL: at launch, during start-up, while the
weights or the state of a snapshot are being written, between the two, between snapshots), and
stopped by SIGINT and SIGTERM. Every time the newest snapshot on disk loads, no temporary file passes
for a snapshot, and `train --snapshot` from it ends with weights bit for bit those of a run never
interrupted.

The net is small to compute but has a 1 MB weight (and a 1 MB momentum history), so a snapshot takes
long enough to write that the test can see its temporary file appear and kill the run right then.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .test_crash_helpers import (
    SNAPSHOT,
    STEM,
    check_snapshots,
    run_cli,
    snapshot_iters,
    spawn_cli,
    temporaries,
    weights_of,
    write_run,
)

KILL_NET = """
name: "kill"
layer { name: "data" type: "DummyData" top: "data" top: "label"
        dummy_data_param { shape { dim: 2 dim: 64 } shape { dim: 2 } data_filler { type: "gaussian" std: 1 }
                           data_filler { type: "constant" value: 1 } } }
layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1"
        inner_product_param { num_output: 4096 weight_filler { type: "gaussian" std: 0.01 } } }
layer { name: "relu" type: "ReLU" bottom: "ip1" top: "ip1" }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
        inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.01 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }
"""
MAX_ITER = 24
KILL_SOLVER = f'base_lr: 0.01 momentum: 0.9 lr_policy: "fixed" max_iter: {MAX_ITER} snapshot: 4 display: 4 ' \
              "random_seed: 7"

Condition = Callable[[set[str]], bool]
Outcome = tuple[list[bytes], list[dict]]  # the final weights (bytes of each array), the metrics events


def launched(names: set[str]) -> bool:
    return True


def has(name: str) -> Condition:
    return lambda names: name in names


def writing(kind: str, iteration: int) -> Condition:
    """The temporary file of `<stem>_iter_<N>.<kind>` is there (or, missed, the file itself already)."""
    final = f"{STEM}_iter_{iteration}.{kind}"
    return lambda names: final in names or any(n.startswith(f".{final}.") for n in names)


def between(iteration: int) -> Condition:
    """The weights of snapshot N are in place, its state is not (or, missed, is already)."""
    return has(f"{STEM}_iter_{iteration}.caffemodel")


# (what, when to kill: a condition on the snapshot folder's names, then a delay in seconds)
MOMENTS: list[tuple[str, Condition, float]] = [
    ("at launch", launched, 0.0),
    ("during start-up", launched, 0.15),
    ("lock just taken", has(f"{STEM}.lock"), 0.0),
    ("configs just written", has(f"{STEM}_net.prototxt"), 0.0),
    ("writing weights 4", writing("caffemodel", 4), 0.0),
    ("between weights and state 4", between(4), 0.0),
    ("writing state 4", writing("solverstate", 4), 0.0),
    ("just after snapshot 4", has(f"{STEM}_iter_4.solverstate"), 0.0),
    ("snapshot 4 + 10 ms", has(f"{STEM}_iter_4.solverstate"), 0.01),
    ("snapshot 4 + 40 ms", has(f"{STEM}_iter_4.solverstate"), 0.04),
    ("writing weights 8", writing("caffemodel", 8), 0.0),
    ("between weights and state 8", between(8), 0.0),
    ("writing state 8", writing("solverstate", 8), 0.0),
    ("snapshot 8 + 25 ms", has(f"{STEM}_iter_8.solverstate"), 0.025),
    ("writing weights 12", writing("caffemodel", 12), 0.0),
    ("writing state 16", writing("solverstate", 16), 0.0),
    ("between weights and state 20", between(20), 0.0),
    ("snapshot 20 + 15 ms", has(f"{STEM}_iter_20.solverstate"), 0.015),
    ("writing weights 24 (the last)", writing("caffemodel", MAX_ITER), 0.0),
    ("writing state 24 (the last)", writing("solverstate", MAX_ITER), 0.0),
]


def listing(snap: Path) -> set[str]:
    try:
        return set(os.listdir(snap))
    except FileNotFoundError:
        return set()


def signal_when(proc: subprocess.Popen, snap: Path, condition: Condition, delay: float, number: int,
                timeout: float = 60) -> bool:
    """Poll the folder (no sleep: a snapshot's temporary file lives a few ms) until `condition`, wait
    `delay`, send `number`; False when the run ended first."""
    deadline = time.monotonic() + timeout
    while not condition(listing(snap)):
        if proc.poll() is not None:
            return False
        assert time.monotonic() < deadline, "the run never reached the moment"
    if delay:
        time.sleep(delay)
    proc.send_signal(number)
    return True


def landing(snap: Path) -> str:
    """Where a kill landed, read from what it left: a temporary (mid-write), weights without their state."""
    names = listing(snap)
    partial = [n for n in temporaries(snap) if re.match(rf"\.{STEM}_iter_\d+\.", n)]
    if partial:
        return "mid-write of " + ", ".join(n.rsplit(".", 2)[0].lstrip(".") for n in partial)
    orphans = sorted(set(snapshot_iters(snap, "caffemodel")) - set(snapshot_iters(snap)))
    if orphans:
        return f"between weights and state {orphans[0]}"
    iters = snapshot_iters(snap)
    if iters:
        return f"after snapshot {iters[-1]}"
    return "before any snapshot" if names else "before any file"


def outcome(snap: Path) -> Outcome:
    """A run's final weights (bytes of each array) and metrics events (less their wall-clock seconds)."""
    events = [json.loads(line) for line in (snap / f"{STEM}_metrics.jsonl").read_text().splitlines()]
    for event in events:
        del event["seconds"]
    return weights_of(snap / f"{STEM}_iter_{MAX_ITER}.caffemodel"), events


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    folder = tmp_path_factory.mktemp("uninterrupted")
    done = run_cli(write_run(folder, KILL_NET, KILL_SOLVER))
    assert done.returncode == 0, done.stderr
    assert snapshot_iters(folder / "snap") == list(range(4, MAX_ITER + 1, 4))
    weights, events = outcome(folder / "snap")
    assert [e["iter"] for e in events] == list(range(0, MAX_ITER + 1, 4))
    return weights, events


def resume_and_compare(folder: Path, uninterrupted: Outcome) -> int | None:
    """Check the snapshots on disk, resume from the newest (or start afresh when there is none), and
    compare the final weights (bit for bit) and the metrics with the uninterrupted run's; returns the
    iteration resumed from."""
    snap = folder / "snap"
    # Temporaries are hidden and end in .tmp: a snapshot glob never sees them; all it sees is checked below.
    assert all(SNAPSHOT.fullmatch(p.name) for p in snap.glob(f"{STEM}_iter_*"))
    newest = check_snapshots(snap, folder / "net.prototxt")
    args = ["--snapshot", str(snap / f"{STEM}_iter_{newest}.solverstate")] if newest is not None else []
    done = run_cli(folder / "solver.prototxt", *args)
    assert done.returncode == 0, done.stderr
    final = snap / f"{STEM}_iter_{MAX_ITER}.solverstate"
    assert f"last snapshot: {final} (iteration {MAX_ITER})" in done.stdout
    weights, events = outcome(snap)
    assert weights == uninterrupted[0]
    assert events == uninterrupted[1]
    assert not temporaries(snap), "the resumed run clears what the killed one left half written"
    assert not (snap / f"{STEM}.lock").exists()
    return newest


def test_sigkill_at_20_moments_loses_nothing(tmp_path: Path, uninterrupted: Outcome) -> None:
    rows = []
    for k, (what, condition, delay) in enumerate(MOMENTS):
        folder = tmp_path / f"kill{k:02d}"
        proc = spawn_cli(write_run(folder, KILL_NET, KILL_SOLVER))
        killed = signal_when(proc, folder / "snap", condition, delay, signal.SIGKILL)
        assert proc.wait(timeout=60) == (-signal.SIGKILL if killed else 0)
        where = landing(folder / "snap") if killed else "not killed: the run had ended"
        newest = resume_and_compare(folder, uninterrupted)
        rows.append(f"{what:<32} landed {where:<44} resumed from {newest}")
    print("\n".join(["", *rows]))
    assert len(rows) == 20
    # The polls catch the writes: several kills left a temporary (mid-write) or weights without a state.
    assert sum("mid-write" in row for row in rows) >= 3, rows
    assert any("between weights and state" in row for row in rows), rows


@pytest.mark.parametrize(("name", "condition", "delay"), [
    pytest.param("SIGINT", has(f"{STEM}_iter_8.solverstate"), 0.0, id="sigint-after-snapshot-8"),
    # During a snapshot write: the write completes, the stop comes after the next iteration.
    pytest.param("SIGINT", writing("caffemodel", 12), 0.0, id="sigint-writing-weights-12"),
    pytest.param("SIGTERM", has(f"{STEM}_iter_4.solverstate"), 0.02, id="sigterm-after-snapshot-4"),
])
def test_sigint_and_sigterm_snapshot_then_stop(tmp_path: Path, uninterrupted: Outcome, name: str,
                                               condition: Condition, delay: float) -> None:
    solver = write_run(tmp_path, KILL_NET, KILL_SOLVER)
    proc = spawn_cli(solver)
    assert signal_when(proc, tmp_path / "snap", condition, delay, getattr(signal, name))
    assert proc.wait(timeout=60) == 0
    output = (tmp_path / "cli.log").read_text()
    stopped = int(re.search(r"last snapshot: .*\.solverstate \(iteration (\d+)\)", output).group(1))
    assert f"Stopping at iteration {stopped}, as requested" in output
    assert snapshot_iters(tmp_path / "snap")[-1] == stopped < MAX_ITER
    assert not temporaries(tmp_path / "snap")
    assert resume_and_compare(tmp_path, uninterrupted) == stopped
