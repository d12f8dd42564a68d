"""Snapshot files: `<prefix>_iter_<N>.caffemodel` + `.solverstate` (Caffe's SolverState, plus protonet's
random generator states, data cursors and loss window), written atomically, weights first."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from google.protobuf.message import DecodeError

from ..errors import StorageError, WeightsError
from ..proto import pb

WEIGHT_SUFFIXES = (".caffemodel", ".caffemodel.h5", ".npz", ".h5")


def snapshot_paths(prefix: str, iteration: int) -> tuple[str, str]:
    """The weights and state file names for a snapshot at `iteration`."""
    return f"{prefix}_iter_{iteration}.caffemodel", f"{prefix}_iter_{iteration}.solverstate"


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
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise WeightsError("solver state file not found", file=path) from None
    except OSError as exc:
        raise WeightsError(f"cannot read solver state: {exc.strerror or exc}", file=path) from None
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
    with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
        content = json.loads(text)
        seeds, states = content.get("seeds", []), content["nets"]
        if isinstance(states, list) and all(isinstance(s, dict) for s in states) and isinstance(seeds, list):
            return seeds, states
    raise WeightsError("the random generator state is corrupt", file=str(path),
                       hint="the file is truncated or corrupt; resume from an older snapshot")
