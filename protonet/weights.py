"""Weights on disk: Caffe's .caffemodel (V2 and V1 layouts) and .npz of named arrays `layer/i`."""

from __future__ import annotations

import io
import zipfile
import zlib
from collections import OrderedDict
from pathlib import Path
from types import ModuleType
from typing import BinaryIO

import numpy as np
from google.protobuf.message import DecodeError

from .blob import check_shape
from .errors import ProtonetError, WeightsError
from .extras import require
from .io import atomic_write, read_regular
from .proto import pb

LayerWeights = "OrderedDict[str, list[np.ndarray]]"
CORRUPT = "the file is truncated or corrupt"


def blobproto_shape(blob: pb.BlobProto) -> tuple[int, ...]:
    if blob.HasField("shape"):
        return tuple(int(d) for d in blob.shape.dim)
    if any(blob.HasField(f) for f in ("num", "channels", "height", "width")):
        return (blob.num, blob.channels, blob.height, blob.width)
    return (len(blob.data) or len(blob.double_data),)


def blobproto_to_array(blob: pb.BlobProto, *, file: str | None = None, layer: str | None = None) -> np.ndarray:
    """The values of a BlobProto as an array of its shape (float32, or float64 for double_data)."""
    shape = check_shape(blobproto_shape(blob), "declared", WeightsError, file=file, layer=layer)
    values = np.array(blob.double_data, np.float64) if len(blob.double_data) else np.array(blob.data, np.float32)
    count = int(np.prod(shape, dtype=np.int64))
    if values.size != count:
        raise WeightsError(f"blob of shape {list(shape)} holds {values.size} values, expected {count}",
                           file=file, layer=layer, hint="the file is truncated or corrupt")
    return values.reshape(shape)


def array_to_blobproto(data: np.ndarray, diff: np.ndarray | None = None) -> pb.BlobProto:
    blob = pb.BlobProto()
    blob.shape.dim.extend(data.shape)
    if data.dtype == np.float64:
        blob.double_data.extend(data.ravel().tolist())
        if diff is not None:
            blob.double_diff.extend(diff.ravel().tolist())
    else:
        blob.data.extend(np.asarray(data, np.float32).ravel().tolist())
        if diff is not None:
            blob.diff.extend(np.asarray(diff, np.float32).ravel().tolist())
    return blob


def mean_blobproto(mean: np.ndarray) -> bytes:
    """A mean image (C, H, W) as Caffe's compute_image_mean writes it: a serialized BlobProto of
    num 1 x C x H x W (the legacy shape fields) holding float data."""
    channels, height, width = mean.shape
    blob = pb.BlobProto(num=1, channels=channels, height=height, width=width)
    blob.data.extend(np.asarray(mean, np.float32).ravel().tolist())
    return blob.SerializeToString()


def blob_fits(source: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """Same shape, or a legacy 4-D source equal to the target padded with leading 1s (Caffe's ShapeEquals)."""
    if tuple(source) == tuple(target):
        return True
    return len(source) == 4 and len(target) <= 4 and tuple(source) == (1,) * (4 - len(target)) + tuple(target)


def parse_netparameter(data: bytes, path: str) -> pb.NetParameter:
    net = pb.NetParameter()
    try:
        net.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise WeightsError(f"not a valid .caffemodel ({exc})", file=path,
                           hint="the file is truncated or corrupt") from None
    return net


def read_file_bytes(path: str, noun: str) -> bytes:
    """The bytes of a weights-like file; a WeightsError naming `noun` when it is missing or unreadable."""
    try:
        return read_regular(path)
    except FileNotFoundError:
        raise WeightsError(f"{noun} not found", file=path) from None
    except OSError as exc:
        raise WeightsError(f"cannot read {noun}: {exc.strerror or exc}", file=path) from None


def read_weights(path: str | Path) -> LayerWeights:
    """Layer name -> parameter arrays, from a .caffemodel, .npz or .caffemodel.h5 (by content, not extension)."""
    path = str(path)
    data = read_file_bytes(path, "weights file")
    if data[:4] == b"PK\x03\x04":
        return _read_npz(path)
    if data[:8] == b"\x89HDF\r\n\x1a\n":
        return read_hdf5_weights(path)
    net = parse_netparameter(data, path)
    out: LayerWeights = OrderedDict()
    for layer in list(net.layer) + list(net.layers):
        if layer.blobs:
            out[layer.name] = [blobproto_to_array(b, file=path, layer=layer.name) for b in layer.blobs]
    for layer in net.layers:
        if layer.HasField("layer") and layer.layer.blobs:  # V0 inside V1
            out[layer.layer.name] = [blobproto_to_array(b, file=path, layer=layer.layer.name)
                                     for b in layer.layer.blobs]
    if not out and not (net.layer or net.layers):
        raise WeightsError("the file holds no layers", file=path, hint="is it a .caffemodel?")
    return out


def check_npy_header(stream: BinaryIO, name: str, path: str, *, kinds: str = "biuf",
                     error: type[ProtonetError] = WeightsError) -> None:
    """Read a .npy header from `stream` and refuse, before numpy allocates anything, values of a
    dtype kind not in `kinds` (object arrays are pickled Python objects: never) or more than
    max_elements() values (or characters, for strings)."""
    version = np.lib.format.read_magic(stream)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(stream)
    if dtype.hasobject or dtype.kind not in kinds:
        hint = "object arrays hold pickled Python objects, which protonet never loads"
        raise error(f"array '{name}' holds {dtype} values, expected numbers", file=path,
                    hint=hint if dtype.hasobject else None)
    check_shape((*shape, dtype.itemsize // 4) if dtype.kind == "U" else shape, f"array '{name}'", error,
                file=path)


def read_npz_arrays(path: str, *, kinds: str = "biuf",
                    error: type[ProtonetError] = WeightsError) -> dict[str, np.ndarray]:
    """The arrays of an .npz archive by name, each header checked by check_npy_header (with `kinds`)
    before it is loaded; any fault is an `error` naming the file."""
    try:
        if not zipfile.is_zipfile(path):
            raise error("not an .npz archive of named arrays", file=path, hint="the file is truncated or corrupt")
        arrays = {}
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                key = name.removesuffix(".npy")
                if key in arrays:
                    raise error(f"the archive holds array '{key}' twice", file=path)
                with archive.open(name) as member:  # the member checked is the member loaded
                    check_npy_header(member, key, path, kinds=kinds, error=error)
                with archive.open(name) as member:
                    arrays[key] = np.lib.format.read_array(member, allow_pickle=False)
        return arrays
    except FileNotFoundError:
        raise error("file not found", file=path) from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError, RuntimeError,
            zlib.error) as exc:
        raise error(f"not a valid .npz ({exc})", file=path, hint="the file is truncated or corrupt") from None


def _read_npz(path: str) -> LayerWeights:
    out: dict[str, dict[int, np.ndarray]] = {}
    for key, array in read_npz_arrays(path).items():
        layer, _, index = key.rpartition("/")
        if not layer or not index.isdigit():
            raise WeightsError(f"array '{key}' is not named 'layer/index'", file=path)
        out.setdefault(layer, {})[int(index)] = array
    result: LayerWeights = OrderedDict()
    for layer, arrays in out.items():
        if sorted(arrays) != list(range(len(arrays))):
            raise WeightsError(f"layer '{layer}' has arrays {sorted(arrays)}, expected 0..{len(arrays) - 1}", file=path)
        result[layer] = [arrays[i] for i in range(len(arrays))]
    return result


def weights_to_npz_bytes(weights: LayerWeights) -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **{f"{layer}/{i}": a for layer, arrays in weights.items() for i, a in enumerate(arrays)})
    return buffer.getvalue()


# ------------------------------------------------------------------ HDF5 (Caffe's Net::ToHDF5 layout)


def read_hdf5_weights(path: str) -> LayerWeights:
    """Layer name -> arrays from Caffe's HDF5 weights: group `data`, a group per layer, datasets 0, 1..."""
    h5py = _h5py()
    found: dict[str, dict[str, np.ndarray]] = OrderedDict()

    def collect(group: h5py.Group, prefix: str) -> None:  # a layer name may hold '/': its group is nested
        for key, item in group.items():  # in creation order where the file tracks it, else by name
            if isinstance(item, h5py.Dataset):
                if item.dtype.kind not in "biuf":
                    raise WeightsError(f"dataset '{item.name}' holds {item.dtype} values, expected numbers",
                                       file=path)
                check_shape(item.shape, f"dataset '{item.name}'", WeightsError, file=path)  # before reading
                found.setdefault(prefix.rstrip("/"), {})[key] = np.array(item[()])
            elif isinstance(item, h5py.Group):
                collect(item, f"{prefix}{key}/")
            else:  # a committed datatype, or a link to nothing
                raise WeightsError(f"'{group.name}/{key}' is neither a group nor a dataset", file=path)

    try:
        with h5py.File(path, "r") as handle:
            data = handle.get("data")
            if not isinstance(data, h5py.Group):
                raise WeightsError("no 'data' group", file=path, hint="is it a Caffe .caffemodel.h5?")
            collect(data, "")
    except FileNotFoundError:
        raise WeightsError("weights file not found", file=path) from None
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise WeightsError(f"not a valid HDF5 weights file ({exc})", file=path,
                           hint=CORRUPT) from None
    if "" in found:
        raise WeightsError("datasets directly in group 'data', expected data/<layer>/<i>", file=path)
    return OrderedDict((layer, numbered(arrays, f"data/{layer}", path)) for layer, arrays in found.items())


def write_hdf5_weights(weights: LayerWeights, path: str, name: str = "") -> None:
    """Caffe's Net::ToHDF5 layout; layers keep their order (HDF5 creation order is tracked)."""
    h5py = _h5py()
    buffer = io.BytesIO()
    try:
        with h5py.File(buffer, "w", track_order=True) as handle:
            data = handle.create_group("data", track_order=True)
            for layer, arrays in weights.items():
                group = data.require_group(layer)
                for i, array in enumerate(arrays):
                    group.create_dataset(str(i), data=array)
    except (ValueError, TypeError) as exc:
        raise WeightsError(f"cannot write HDF5 weights ({exc})", file=path) from None
    atomic_write(path, buffer.getvalue())


def _h5py() -> ModuleType:
    return require("h5py", "hdf5", "the .caffemodel.h5 format needs the h5py package, which is not installed")


def numbered(items: dict, where: str, path: str) -> list:
    """The values of {'0': a, '1': b, ...} in index order; an error unless the keys are exactly 0..n-1."""
    if not all(key.isdigit() for key in items) or sorted(map(int, items)) != list(range(len(items))):
        raise WeightsError(f"'{where}' holds {sorted(items)}, expected entries numbered 0..{len(items) - 1}",
                           file=path)
    return [items[str(i)] for i in range(len(items))]
