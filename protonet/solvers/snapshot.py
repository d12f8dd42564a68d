"""Snapshot files: `<prefix>_iter_<N>.caffemodel` + `.solverstate` (Caffe's SolverState, plus protonet's
random generator states, data cursors and loss window), written atomically, weights first."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np
from google.protobuf.message import DecodeError

from ..errors import StorageError, WeightsError
from ..io import replace_atomically, write_error
from ..proto import pb
from ..weights import read_file_bytes

WEIGHT_SUFFIXES = (".caffemodel", ".caffemodel.h5", ".npz", ".h5")


def snapshot_paths(prefix: str, iteration: int) -> tuple[str, str]:
    """The weights and state file names for a snapshot at `iteration`."""
    return f"{prefix}_iter_{iteration}.caffemodel", f"{prefix}_iter_{iteration}.solverstate"


def best_path(prefix: str) -> str:
    """The weights of the best test so far (solver field keep_best)."""
    return f"{prefix}_best.caffemodel"


def latest_state(prefix: str) -> str | None:
    """The `.solverstate` of the newest snapshot under `prefix` (highest iteration), or None."""
    folder, stem = os.path.split(prefix)
    pattern = re.compile(re.escape(stem) + r"_iter_(\d+)\.solverstate")
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return None
    found = [(int(match[1]), name) for name in names if (match := pattern.fullmatch(name))]
    return os.path.join(folder, max(found)[1]) if found else None


def run_files(prefix: str) -> dict[str, str]:
    """The other files a run writes under its prefix: the solver and net as run, and the metrics."""
    return {"solver": f"{prefix}_solver.prototxt", "net": f"{prefix}_net.prototxt",
            "metrics": f"{prefix}_metrics.jsonl"}


def write_snapshot(iteration: int, weights: bytes, state: bytes, prefix: str, last: str | None) -> None:
    """Write the weights, then the state that names them, each atomically (io.replace_atomically).

    A crash between the two leaves a complete new .caffemodel beside the older pairs, never a state
    whose weights are missing or partial. When the state cannot be written (a full disk), a weights
    file this call created is removed again, so the folder holds what it held before, and a
    StorageError says so, naming `last`, the last snapshot written.
    """
    model, state_path = snapshot_paths(prefix, iteration)
    existed = os.path.lexists(model)
    target = model
    try:
        replace_atomically(model, weights)
        target = state_path
        replace_atomically(state_path, state)
    except OSError as exc:
        if target == state_path and not existed:
            with contextlib.suppress(OSError):
                os.unlink(model)
        kept = f"the last snapshot {last} is intact" if last else "no part of it was kept"
        what = f"cannot write the snapshot at iteration {iteration}"
        raise write_error(exc, target, kept, what) from None


def remove_temporaries(prefix: str) -> list[str]:
    """Delete the temporary files (io.atomic_write's `.<name>.<random>.tmp`) that a killed run left
    under `prefix`; call it only while holding the prefix's lock. Returns the names removed."""
    folder, stem = Path(prefix).parent, Path(prefix).name
    names = [re.escape(file[len(prefix):]) for file in run_files(prefix).values()]
    names += [r"_iter_\d+\.(?:caffemodel|solverstate)", r"_best\.caffemodel"]
    pattern = re.compile(rf"\.{re.escape(stem)}(?:{'|'.join(names)})\.\w+\.tmp")
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if pattern.fullmatch(entry.name):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(entry.name)
    return removed


def check_writable(prefix: str) -> None:
    """Create the snapshot folder and probe it, as Caffe's CheckSnapshotWritePermissions does."""
    folder = Path(prefix).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".protonet-probe.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise StorageError(f"cannot write snapshots to folder '{folder}': {exc.strerror or exc}",
                           file=prefix, hint="make it writable, or set snapshot_prefix elsewhere") from None


def read_state(path: str | Path) -> pb.SolverState:
    """Parse a .solverstate; a WeightsError for a missing, mistaken (.caffemodel) or corrupt file."""
    path = str(path)
    if path.endswith(".h5"):
        raise WeightsError("HDF5 solver states are not supported", file=path,
                           hint="resume from a binary .solverstate (snapshot_format: BINARYPROTO)")
    data = read_file_bytes(path, "solver state file")
    if path.endswith(WEIGHT_SUFFIXES) or data[:4] == b"PK\x03\x04" or _is_net(data):
        raise WeightsError("this is a weights file, not a solver state", file=path,
                           hint="to start from these weights use --weights instead; --snapshot takes the "
                                ".solverstate written next to it")
    state = pb.SolverState()
    try:
        state.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise WeightsError(f"not a valid .solverstate ({exc})", file=path,
                           hint="the file is truncated or corrupt; resume from an older snapshot") from None
    if not state.HasField("iter"):
        raise WeightsError("not a valid .solverstate (no iteration recorded)", file=path,
                           hint="the file is truncated or corrupt; resume from an older snapshot")
    return state


def _is_net(data: bytes) -> bool:
    """True when `data` parses as a NetParameter with layers (a .caffemodel), which a state never does."""
    net = pb.NetParameter()
    try:
        net.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError):
        return False
    return bool(net.layer or net.layers)


def learned_net_path(state: pb.SolverState, state_path: str | Path) -> Path:
    """The weights file a state names: as written, else beside the state (a moved snapshot folder)."""
    named = Path(state.learned_net)
    for candidate in (named, Path(state_path).parent / named, Path(state_path).parent / named.name):
        if candidate.is_file():
            return candidate
    raise WeightsError(f"the weights file it names, '{state.learned_net}', is not found",
                       file=str(state_path), hint="keep the .caffemodel next to its .solverstate")


def encode_random_state(seeds: list[int | None], states: list[dict]) -> str:
    """Per net (train, then tests): its seed (which layers may derive streams from) and generator state."""
    return json.dumps({"seeds": seeds, "nets": states}, separators=(",", ":"))


def decode_random_state(text: str, path: str | Path) -> tuple[list[int | None], list[dict]]:
    """The seeds and generator states; none for a state without them (one Caffe wrote)."""
    if not text:
        return [], []
    with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError, RecursionError):
        content = json.loads(text)
        seeds, states = content.get("seeds", []), content["nets"]
        if isinstance(states, list) and all(isinstance(s, dict) for s in states) and isinstance(seeds, list):
            for state in states:  # nets draw from PCG64: each state must be one it accepts
                np.random.PCG64().state = state
            return seeds, states
    raise WeightsError("the random generator state is corrupt", file=str(path),
                       hint="the file is truncated or corrupt; resume from an older snapshot")
