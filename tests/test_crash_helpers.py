"""Helpers for the crash-safety tests (no tests here): run folders, the CLI in a subprocess, snapshot
checks and a disk that fills up.
"""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from protonet.net import Net
from protonet.solvers.snapshot import learned_net_path, read_state
from protonet.weights import read_weights

# One OpenBLAS thread: on a small shared machine its threads spin against each other (100x slower).
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}

STEM = "s"
SNAPSHOT = re.compile(rf"{STEM}_iter_(\d+)\.(caffemodel|solverstate)")
TEMPORARY = re.compile(r"\..*\.tmp")

SMALL_NET = """
name: "small"
layer { name: "data" type: "DummyData" top: "data" top: "label"
        dummy_data_param { shape { dim: 2 dim: 8 } shape { dim: 2 } data_filler { type: "gaussian" std: 1 }
                           data_filler { type: "constant" value: 1 } } }
layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1"
        inner_product_param { num_output: 16 weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "relu" type: "ReLU" bottom: "ip1" top: "ip1" }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
        inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }
"""
SMALL_SOLVER = 'base_lr: 0.1 momentum: 0.9 lr_policy: "fixed" random_seed: 3'


def write_run(folder: Path, net: str, fields: str) -> Path:
    """net.prototxt and solver.prototxt in `folder` (absolute paths), snapshots to folder/snap/s."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "net.prototxt").write_text(net)
    solver = folder / "solver.prototxt"
    solver.write_text(f'net: "{folder / "net.prototxt"}"\nsnapshot_prefix: "{folder / "snap" / STEM}"\n'
                      f"{fields}\n")
    return solver


def cli_args(solver: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "protonet.cli", "train", "--solver", str(solver), "--no-progress", *extra]


def run_cli(solver: Path, *extra: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(cli_args(solver, *extra), env=ENV, capture_output=True, text=True, timeout=timeout)


def spawn_cli(solver: Path, *extra: str) -> subprocess.Popen:
    """The CLI in the background, its output (stdout and stderr) to `cli.log` beside the solver."""
    with (solver.parent / "cli.log").open("wb") as log:
        return subprocess.Popen(cli_args(solver, *extra), env=ENV, stdout=log, stderr=subprocess.STDOUT)


def snapshot_iters(snap: Path, suffix: str = "solverstate") -> list[int]:
    """Iterations of the snapshot files in `snap` (names matched exactly: temporaries never count)."""
    found = []
    for name in os.listdir(snap) if snap.is_dir() else []:
        match = SNAPSHOT.fullmatch(name)
        if match and match.group(2) == suffix:
            found.append(int(match.group(1)))
    return sorted(found)


def temporaries(snap: Path) -> list[str]:
    return sorted(name for name in os.listdir(snap) if TEMPORARY.fullmatch(name)) if snap.is_dir() else []


def check_snapshots(snap: Path, net_file: Path) -> int | None:
    """Every snapshot state on disk parses, names a weights file that exists and loads into the train net;
    returns the newest snapshot's iteration (None when there is none)."""
    iters = snapshot_iters(snap)
    for it in iters:
        state_path = snap / f"{STEM}_iter_{it}.solverstate"
        state = read_state(state_path)
        assert state.iter == it
        model = learned_net_path(state, state_path)
        assert model.name == f"{STEM}_iter_{it}.caffemodel"
        net = Net(net_file, phase="TRAIN", seed=0)
        copied = net.copy_from(model)
        assert copied == [name for name, blobs in net.params.items()]
    for it in snapshot_iters(snap, "caffemodel"):  # one without its state (killed in between) loads too
        read_weights(snap / f"{STEM}_iter_{it}.caffemodel")
    return iters[-1] if iters else None


def weights_of(path: Path) -> list[bytes]:
    """Every parameter array of a weights file, as bytes (for bit-for-bit comparisons)."""
    return [np.ascontiguousarray(a).tobytes() for arrays in read_weights(path).values() for a in arrays]


class FullDisk:
    """A disk holding `folder` with `free` bytes left, at the file layer: files opened (os.open, as mkstemp
    does) under `folder` and written through os.fdopen or os.write take what fits, then fail with ENOSPC,
    as a real full disk does. `install(monkeypatch)` puts it in place."""

    def __init__(self, folder: Path, free: int) -> None:
        self.folder = str(folder.resolve())
        self.free = free
        self.failures = 0
        self.fds: set[int] = set()

    def take(self, wanted: int) -> int:
        granted = min(wanted, self.free)
        self.free -= granted
        return granted

    def fail(self) -> OSError:
        self.failures += 1
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def install(self, monkeypatch: object) -> FullDisk:
        real_open, real_fdopen, real_write = os.open, os.fdopen, os.write
        disk = self

        class Limited:
            def __init__(self, handle: object) -> None:
                self.handle = handle

            def write(self, data: bytes) -> int:
                granted = disk.take(len(data))
                self.handle.write(data[:granted])
                self.handle.flush()
                if granted < len(data):
                    raise disk.fail()
                return granted

            def __getattr__(self, name: str) -> object:
                return getattr(self.handle, name)

            def __enter__(self) -> Limited:
                return self

            def __exit__(self, *exc: object) -> None:
                self.handle.close()

        def open_(path: object, flags: int, *args: object, **kwargs: object) -> int:
            fd = real_open(path, flags, *args, **kwargs)
            writing = flags & (os.O_WRONLY | os.O_RDWR)
            if writing and os.path.abspath(os.fspath(path)).startswith(disk.folder + os.sep):
                disk.fds.add(fd)
            else:
                disk.fds.discard(fd)
            return fd

        def fdopen(fd: int, *args: object, **kwargs: object) -> object:
            handle = real_fdopen(fd, *args, **kwargs)
            return Limited(handle) if fd in disk.fds else handle

        def write(fd: int, data: bytes) -> int:
            if fd not in disk.fds:
                return real_write(fd, data)
            granted = disk.take(len(data))
            if granted == 0 and len(data):
                raise disk.fail()
            return real_write(fd, bytes(data[:granted]))

        monkeypatch.setattr(os, "open", open_)
        monkeypatch.setattr(os, "fdopen", fdopen)
        monkeypatch.setattr(os, "write", write)
        return self
