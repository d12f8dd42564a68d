"""The dataset tools behind `protonet data convert | mean | info`: Caffe's convert_mnist_data,
convert_imageset and compute_image_mean.

Every source is read as a stream of (key, serialized Datum) records in order, one at a time:
  - a database folder (LMDB, LevelDB): its records as stored;
  - an IDX file (with its labels file), an .npz or a dataset alias ('mnist:train'): record i has the
    key '%08d' % i, as convert_mnist_data writes it; uint8 images are raw Datums, others float_data;
  - an image list of `path label` lines (ImageData's): key '%08d_<path>' as convert_imageset writes
    it, images decoded BGR (or grey), optionally resized, shuffled, or stored encoded (PNG/JPEG).
"""

from __future__ import annotations

import collections
import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..io import atomic_write, open_regular, read_regular
from ..weights import mean_blobproto
from .database import LmdbWriter, open_database
from .datum import decode_datum, encode_datum, encode_file, key_text, parse_datum
from .idx import GZIP_MAGIC
from .images import pillow, read_image
from .reader import find_listed, parse_image_list
from .sources import database_folder, is_dataset_alias, open_source, resolve_path
from .stream import describe, describe_shape

Record = tuple[bytes, bytes]
Progress = Callable[[int], None]  # called with the number of records just done


@dataclass
class ImageOptions:
    """How the images of a list are read: convert_imageset's --resize_height/width, --gray, --shuffle,
    --encoded, and its ROOTFOLDER."""

    resize: tuple[int, int] | None = None
    gray: bool = False
    shuffle: bool = False
    encoded: bool = False
    root: str = ""
    seed: int = 0


@dataclass
class RecordStream:
    """`count` records of `source` (a `kind`), read in order by `records()`."""

    source: str
    kind: str
    count: int
    records: Callable[[], Iterator[Record]]


def open_records(source: str, *, labels: str = "", images: ImageOptions | None = None) -> RecordStream:
    """The records of `source`: a database folder, an IDX/.npz file or a dataset alias, or an image list."""
    images = images or ImageOptions()
    base = Path.cwd()
    folder = database_folder(source, base)
    if folder is not None:
        database = open_database(folder)
        return RecordStream(database.path, database.kind, database.count, database.scan)
    if not is_dataset_alias(source):
        path = resolve_path(source, base)
        if path.suffix != ".npz" and not _is_idx(path):
            return _image_list(path, images)
    if images.resize or images.gray or images.shuffle:
        raise DataError("--resize, --gray and --shuffle apply to image lists only", file=source)
    records = open_source(source, base_dir=base, label_source=labels)
    if records.labels is None:
        raise DataError("has no labels: a Datum holds one per image", file=records.path,
                        hint="add an array 'labels' to the .npz")
    values = records.labels.astype(np.int64)
    if not np.array_equal(values, records.labels):
        raise DataError("holds labels that are not integers: a Datum's label is an int32", file=records.path)
    kind = "NPZ" if records.path.endswith(".npz") else "IDX"

    def read() -> Iterator[Record]:
        for index, (image, label) in enumerate(zip(records.images, values)):
            yield b"%08d" % index, _encode_png(image, label) if images.encoded else encode_datum(image, label)

    return RecordStream(records.path, kind, records.num, read)


def _is_idx(path: Path) -> bool:
    """Whether the file starts as IDX files (or gzipped ones) do; anything else is read as an image list."""
    try:
        with open_regular(path) as handle:
            return handle.read(2) in (GZIP_MAGIC, b"\0\0")
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None


def _image_list(path: Path, options: ImageOptions) -> RecordStream:
    pillow()
    lines, names, labels = parse_image_list(path, options.root)
    order = np.arange(len(names))
    if options.shuffle:
        order = np.random.default_rng(options.seed).permutation(len(names))
    color = not options.gray

    def read() -> Iterator[Record]:
        for position, index in enumerate(order):
            line, name, label = lines[index], names[index], labels[index]
            file = find_listed(name, path, line, "image")
            key = b"%08d_%s" % (position, name.encode())
            image = read_image(file, color=color, size=options.resize, source=str(path), line=line)
            if not options.encoded:
                yield key, encode_datum(image, label)
            elif options.resize is None and _stored_as(data := read_regular(file), color):
                yield key, encode_file(data, label)  # the file itself, as convert_imageset keeps it
            else:
                yield key, _encode_png(image, label)

    return RecordStream(str(path), "image list", len(names), read)


def _stored_as(data: bytes, color: bool) -> bool:
    """Whether an image file is a PNG or JPEG that decodes as stored into the channels asked for."""
    with pillow().open(io.BytesIO(data)) as image:
        return image.format in ("PNG", "JPEG") and (image.mode in ("RGB", "RGBA", "P", "CMYK")) == color


def _encode_png(image: np.ndarray, label: int) -> bytes:
    """An encoded Datum: the (C, H, W) uint8 image (BGR or grey) as a PNG."""
    if image.dtype != np.uint8 or image.shape[0] not in (1, 3):
        raise DataError(f"--encoded stores 1- or 3-channel uint8 images, not {describe(image)}")
    pixels = image[0] if image.shape[0] == 1 else image[::-1].transpose(1, 2, 0)
    buffer = io.BytesIO()
    pillow().fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG")
    return encode_file(buffer.getvalue(), label)


@dataclass
class Summary:
    """What a tool did: records seen, their shape and dtype, seconds taken, and per-label counts."""

    source: RecordStream
    count: int = 0
    shape: tuple[int, ...] = ()
    dtype: str = ""
    encoded: bool = False
    seconds: float = 0.0
    labels: collections.Counter = field(default_factory=collections.Counter)
    first_keys: list[str] = field(default_factory=list)

    @property
    def record(self) -> str:
        """The first record's shape and dtype: '1x28x28 uint8', with ' (encoded)' for an encoded image."""
        return describe_shape(self.shape, self.dtype) + " (encoded)" * self.encoded

    def describe(self) -> str:
        return f"{self.count} records of {self.record}"


def convert(stream: RecordStream, dest: str | Path, *, progress: Progress | None = None) -> Summary:
    """Write the records of `stream` into a new LMDB at `dest`, keys and Datums as they come."""
    summary, started = Summary(stream), time.perf_counter()
    with LmdbWriter(Path(dest)) as writer:
        for key, value in stream.records():
            _note(summary, key, value, decode=not summary.count)
            writer.put(key, value)
            if progress:
                progress(1)
    summary.seconds = time.perf_counter() - started
    return summary


def mean(stream: RecordStream, out: str | Path, *, progress: Progress | None = None) -> tuple[Summary, np.ndarray]:
    """The mean image (C, H, W) over all records, written to `out` as a .binaryproto (a BlobProto of shape
    1 x C x H x W, as compute_image_mean writes it)."""
    summary, started = Summary(stream), time.perf_counter()
    total: np.ndarray | None = None
    for key, value in stream.records():
        image, label = decode_datum(value, key, stream.source)
        if total is None:
            total = np.zeros(image.shape, np.float64)
        elif image.shape != total.shape:
            raise DataError(f"record '{key_text(key)}' is {describe(image)}, but the first record is "
                            f"{describe_shape(summary.shape, summary.dtype)}", file=stream.source,
                            hint="a mean needs records of one size")
        total += image
        _count(summary, key, image, label)
        if progress:
            progress(1)
    average = (total / summary.count).astype(np.float32)
    atomic_write(out, mean_blobproto(average))
    summary.seconds = time.perf_counter() - started
    return summary, average


def info(stream: RecordStream, *, progress: Progress | None = None) -> Summary:
    """Count, first record's shape and dtype, label histogram and first keys of `stream` (labels are
    read from every record, images decoded from the first only)."""
    summary, started = Summary(stream), time.perf_counter()
    for key, value in stream.records():
        _note(summary, key, value, decode=not summary.count)
        if progress:
            progress(1)
    summary.seconds = time.perf_counter() - started
    return summary


def _note(summary: Summary, key: bytes, value: bytes, *, decode: bool) -> None:
    if decode:
        image, label = decode_datum(value, key, summary.source.source)
        summary.encoded = parse_datum(value, key, summary.source.source).encoded
        _count(summary, key, image, label)
    else:
        _count(summary, key, None, parse_datum(value, key, summary.source.source).label)


def _count(summary: Summary, key: bytes, image: np.ndarray | None, label: int) -> None:
    if image is not None and not summary.count:
        summary.shape, summary.dtype = image.shape, image.dtype.name
    if len(summary.first_keys) < 3:
        summary.first_keys.append(key_text(key))
    summary.count += 1
    summary.labels[label] += 1
