"""`protonet convert IN OUT`: the conversion is chosen by the two extensions (see CONVERTERS).

- nets and solvers: .prototxt (.pbtxt, .txt) <-> .yaml (.yml), the same message either way;
- weights: .caffemodel <-> .npz (arrays `layer/i`) <-> .caffemodel.h5 (Caffe's HDF5 layout:
  datasets `data/<layer>/<i>`; needs the optional h5py, `pip install protonet[hdf5]`);
- a blob: .binaryproto <-> .npy (a mean image, say);
- a solver state: .solverstate <-> .npz of arrays `history/i`, the scalars `iter` and
  `current_step`, and, when present, `learned_net`, `random_state` (0-d strings), `recent_loss`
  and `data_cursor/{layer,position,epoch}`.

Every conversion is exact: float32 stays float32, float64 stays float64.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
from google.protobuf.message import DecodeError, Message

from . import config
from .errors import ConfigError, ProtonetError, WeightsError
from .io import atomic_write
from .proto import pb
from .weights import (
    CORRUPT,
    LayerWeights,
    array_to_blobproto,
    blobproto_to_array,
    check_npy_header,
    numbered,
    read_file_bytes,
    read_hdf5_weights,
    read_npz_arrays,
    read_weights,
    weights_to_npz_bytes,
    write_hdf5_weights,
)

CONFIG = (*config.YAML_SUFFIXES, *config.TEXT_SUFFIXES)
HDF5 = ".caffemodel.h5"
WEIGHTS = (".caffemodel", ".npz", HDF5)
STATE_SCALARS = ("iter", "current_step")
STATE_STRINGS = ("learned_net", "random_state")
CURSOR_FIELDS = ("layer", "position", "epoch")


def load_config(path: str) -> Message:
    """A net or a solver file, whichever it is (a net is tried first)."""
    text = config.read_text(path)
    syntax = config.syntax_of(path)
    try:
        return config.parse(text, pb.NetParameter(), syntax=syntax, file=path)
    except ConfigError as net_error:
        try:
            return config.parse(text, pb.SolverParameter(), syntax=syntax, file=path)
        except ConfigError:
            raise net_error from None


def convert_file(source: str, target: str) -> str:
    """Convert `source` to `target`; returns a one-line description of what was done."""
    src, dst = _suffix(source), _suffix(target)
    converter = CONVERTERS.get((src, dst))
    if converter is None:
        raise ProtonetError(f"no conversion from {src or 'no extension'} to {dst or 'no extension'}",
                            hint="supported: .prototxt <-> .yaml, .caffemodel <-> .npz <-> .caffemodel.h5, "
                                 ".binaryproto <-> .npy, .solverstate <-> .npz")
    return converter(source, target)


# ------------------------------------------------------------------ nets and solvers


def _config(source: str, target: str) -> str:
    message = load_config(source)
    config.save(message, target)
    return f"wrote {target} ({message.DESCRIPTOR.name})"


# ------------------------------------------------------------------ weights


def _weights(source: str, target: str) -> str:
    weights = WEIGHT_READERS[_suffix(source)](source)
    WEIGHT_WRITERS[_suffix(target)](weights, target, Path(source).name[:-len(_suffix(source))])
    count = sum(a.size for arrays in weights.values() for a in arrays)
    return f"wrote {target} ({len(weights)} layers, {count} parameters)"


def write_caffemodel(weights: LayerWeights, path: str, name: str = "") -> None:
    """A NetParameter holding only named layers with their blobs (what Caffe's CopyTrainedLayers reads)."""
    net = pb.NetParameter(name=name)
    for layer, arrays in weights.items():
        net.layer.add(name=layer).blobs.extend(array_to_blobproto(a) for a in arrays)
    atomic_write(path, net.SerializeToString())


def write_npz(weights: LayerWeights, path: str, name: str = "") -> None:
    atomic_write(path, weights_to_npz_bytes(weights))


WEIGHT_READERS: dict[str, Callable[[str], LayerWeights]] = {
    ".caffemodel": read_weights, ".npz": read_weights, HDF5: read_hdf5_weights}
WEIGHT_WRITERS: dict[str, Callable[[LayerWeights, str, str], None]] = {
    ".caffemodel": write_caffemodel, ".npz": write_npz, HDF5: write_hdf5_weights}


# ------------------------------------------------------------------ blobs


def _blob_to_npy(source: str, target: str) -> str:
    array = blobproto_to_array(_parse_bytes(source, pb.BlobProto(), ".binaryproto"), file=source)
    atomic_write(target, _npy_bytes(array))
    return f"wrote {target} (shape {list(array.shape)}, {array.dtype})"


def _npy_to_blob(source: str, target: str) -> str:
    try:
        with open(source, "rb") as stream:
            check_npy_header(stream, Path(source).name, source)  # numbers, and not too many, before loading
            stream.seek(0)
            array = np.load(stream, allow_pickle=False)
    except FileNotFoundError:
        raise WeightsError("file not found", file=source) from None
    except (ValueError, OSError, EOFError) as exc:
        raise WeightsError(f"not a valid .npy ({exc})", file=source, hint=CORRUPT) from None
    atomic_write(target, array_to_blobproto(array).SerializeToString())
    return f"wrote {target} (shape {list(array.shape)})"


# ------------------------------------------------------------------ solver states


def _state_to_npz(source: str, target: str) -> str:
    from .solvers.snapshot import read_state

    state = read_state(source)
    arrays: dict[str, np.ndarray] = {key: np.array(getattr(state, key), np.int64) for key in STATE_SCALARS}
    arrays.update((key, np.array(getattr(state, key))) for key in STATE_STRINGS if state.HasField(key))
    for i, blob in enumerate(state.history):
        arrays[f"history/{i}"] = blobproto_to_array(blob, file=source)
    if state.recent_loss:
        arrays["recent_loss"] = np.array(state.recent_loss, np.float32)
    if state.data_cursor:
        arrays["data_cursor/layer"] = np.array([c.layer for c in state.data_cursor])
        for key in CURSOR_FIELDS[1:]:
            arrays[f"data_cursor/{key}"] = np.array([getattr(c, key) for c in state.data_cursor], np.int64)
    atomic_write(target, _npz_bytes(arrays))
    return f"wrote {target} (iteration {state.iter}, {len(state.history)} history blobs)"


def _npz_to_state(source: str, target: str) -> str:
    try:
        state = _state_from_arrays(_load_npz(source), source)
    except (ValueError, TypeError, OverflowError) as exc:
        raise WeightsError(f"cannot build a solver state ({exc})", file=source) from None
    atomic_write(target, state.SerializeToString())
    return f"wrote {target} (iteration {state.iter}, {len(state.history)} history blobs)"


def _state_from_arrays(arrays: dict[str, np.ndarray], source: str) -> pb.SolverState:
    history = {key.partition("/")[2]: a for key, a in arrays.items() if key.startswith("history/")}
    cursors = [f"data_cursor/{key}" for key in CURSOR_FIELDS]
    known = {*STATE_SCALARS, *STATE_STRINGS, "recent_loss", *cursors}
    for key in arrays:
        if key not in known and not key.startswith("history/"):
            raise WeightsError(f"array '{key}' is not part of a solver state", file=source,
                               hint="expected history/<i>, iter, current_step, learned_net, random_state, "
                                    "recent_loss, data_cursor/*; a weights .npz converts to .caffemodel")
    if "iter" not in arrays:
        raise WeightsError("no 'iter' array", file=source, hint="a solver state .npz records its iteration")
    state = pb.SolverState(**{key: _scalar(arrays[key], "iu", key, source) for key in STATE_SCALARS
                              if key in arrays})
    for key in STATE_STRINGS:
        if key in arrays:
            setattr(state, key, _scalar(arrays[key], "U", key, source))
    state.history.extend(array_to_blobproto(a) for a in numbered(history, "history", source))
    if "recent_loss" in arrays:
        state.recent_loss.extend(arrays["recent_loss"].ravel().tolist())
    present = [key in arrays for key in cursors]
    if any(present):
        if not all(present) or len({arrays[key].shape for key in cursors}) != 1:
            raise WeightsError("data_cursor/layer, /position and /epoch go together, with equal lengths",
                               file=source)
        for layer, position, epoch in zip(*(arrays[key].tolist() for key in cursors)):
            state.data_cursor.add(layer=str(layer), position=int(position), epoch=int(epoch))
    return state


def _scalar(array: np.ndarray, kinds: str, key: str, path: str) -> int | str:
    if array.shape != () or array.dtype.kind not in kinds:
        raise WeightsError(f"array '{key}' should be a single {'string' if kinds == 'U' else 'integer'}, "
                           f"found {array.dtype} of shape {list(array.shape)}", file=path)
    return array.item()


# ------------------------------------------------------------------ file helpers


def _parse_bytes(path: str, message: Message, kind: str) -> Message:
    data = read_file_bytes(path, "file")
    try:
        message.ParseFromString(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise WeightsError(f"not a valid {kind} ({exc})", file=path, hint=CORRUPT) from None
    return message


def _load_npz(path: str) -> dict[str, np.ndarray]:
    return read_npz_arrays(path, kinds="biufU")  # each header checked before numpy allocates


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _suffix(path: str) -> str:
    name = Path(path).name.lower()
    return HDF5 if name.endswith(HDF5) else Path(name).suffix


CONVERTERS: dict[tuple[str, str], Callable[[str, str], str]] = {
    **{(a, b): _config for a in CONFIG for b in CONFIG},
    **{(a, b): _weights for a in WEIGHTS for b in WEIGHTS if a != b},
    (".binaryproto", ".npy"): _blob_to_npy,
    (".npy", ".binaryproto"): _npy_to_blob,
    (".solverstate", ".npz"): _state_to_npz,
    (".npz", ".solverstate"): _npz_to_state,
}
