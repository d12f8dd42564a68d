"""`protonet convert IN OUT`: the conversion is chosen by the two extensions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from google.protobuf.message import DecodeError, Message

from . import config
from .errors import ConfigError, ProtonetError, WeightsError
from .io import atomic_write
from .proto import pb
from .weights import array_to_blobproto, blobproto_to_array, read_weights, weights_to_npz_bytes

CONFIG = (*config.YAML_SUFFIXES, *config.TEXT_SUFFIXES)


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
    if src in CONFIG and dst in CONFIG:
        message = load_config(source)
        config.save(message, target)
        return f"wrote {target} ({message.DESCRIPTOR.name})"
    if src == ".caffemodel" and dst == ".npz":
        weights = read_weights(source)
        atomic_write(target, weights_to_npz_bytes(weights))
        return f"wrote {target} ({len(weights)} layers)"
    if src == ".npz" and dst == ".caffemodel":
        weights = read_weights(source)
        net = pb.NetParameter(name=Path(source).stem)
        for name, arrays in weights.items():
            layer = net.layer.add(name=name)
            layer.blobs.extend(array_to_blobproto(a) for a in arrays)
        atomic_write(target, net.SerializeToString())
        return f"wrote {target} ({len(weights)} layers)"
    if src == ".binaryproto" and dst == ".npy":
        blob = _read_blobproto(source)
        import io

        buffer = io.BytesIO()
        np.save(buffer, blobproto_to_array(blob, file=source), allow_pickle=False)
        atomic_write(target, buffer.getvalue())
        return f"wrote {target}"
    if src == ".npy" and dst == ".binaryproto":
        try:
            array = np.load(source, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise WeightsError(f"not a valid .npy ({exc})", file=source) from None
        atomic_write(target, array_to_blobproto(array).SerializeToString())
        return f"wrote {target}"
    raise ProtonetError(f"no conversion from {src or 'no extension'} to {dst or 'no extension'}",
                        hint="supported: .prototxt <-> .yaml, .caffemodel <-> .npz, .binaryproto <-> .npy")


def _read_blobproto(path: str) -> pb.BlobProto:
    blob = pb.BlobProto()
    try:
        blob.ParseFromString(Path(path).read_bytes())
    except FileNotFoundError:
        raise WeightsError("file not found", file=path) from None
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise WeightsError(f"not a valid .binaryproto ({exc})", file=path) from None
    return blob


def _suffix(path: str) -> str:
    name = Path(path).name.lower()
    if name.endswith(".caffemodel.h5"):
        return ".caffemodel.h5"
    return Path(name).suffix
