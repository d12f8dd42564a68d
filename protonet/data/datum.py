"""Caffe's Datum records, the values in its LMDB and LevelDB databases: decoded to arrays, and made.

A Datum holds one image and an integer label in one of three layouts, as Caffe's tools write them:

    raw         channels, height, width and `data`: C*H*W bytes in C order, read as uint8 (BGR for
                colour images from convert_imageset, as OpenCV orders them; CIFAR's RGB as stored);
    float_data  channels, height, width and C*H*W floats, read as float32 (`data` empty);
    encoded     `encoded: true` and `data` holding an image file (PNG, JPEG), decoded with Pillow as
                OpenCV's imdecode does (protonet.data.images): BGR for colour, one channel for grey.

Bytes that do not parse as a Datum, or whose sizes disagree (C*H*W against the data held), are a
DataError naming the record's key.
"""

from __future__ import annotations

import numpy as np
from google.protobuf.message import DecodeError

from ..blob import check_shape
from ..errors import DataError
from ..proto import pb
from .images import decode_image

NOT_DATUM_HINT = "the database's values must be Caffe Datum records (as convert_imageset or `protonet data convert` " \
                 "write them)"


def key_text(key: bytes) -> str:
    """A record key as printable text."""
    return key.decode("utf-8", "backslashreplace")


def parse_datum(value: bytes, key: bytes, source: str) -> pb.Datum:
    """The Datum in `value`, or a DataError naming record `key` of `source`."""
    datum = pb.Datum()
    try:
        datum.ParseFromString(value)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise not_a_datum(key, source, f"it does not parse: {exc}") from None
    return datum


def decode_datum(value: bytes, key: bytes, source: str, *, color: bool | None = None) -> tuple[np.ndarray, int]:
    """(image (C, H, W), label) of a serialized Datum; `color` decides how encoded images decode
    (True: BGR, False: grey, None: as stored)."""
    datum = parse_datum(value, key, source)
    if datum.encoded:
        if not datum.data:
            raise not_a_datum(key, source, "it is marked encoded but holds no image")
        return decode_image(datum.data, f"the encoded image of record '{key_text(key)}'", color=color,
                            source=source), datum.label
    shape = (datum.channels, datum.height, datum.width)
    if min(shape) <= 0:
        raise not_a_datum(key, source, f"its shape {'x'.join(map(str, shape))} is not positive")
    check_shape(shape, f"record '{key_text(key)}'", DataError, file=source)
    size = int(np.prod(shape))
    if datum.data:
        if len(datum.data) != size:
            raise not_a_datum(key, source, f"it holds {len(datum.data)} bytes for a {'x'.join(map(str, shape))} "
                                           f"image ({size})")
        return np.frombuffer(datum.data, np.uint8).reshape(shape), datum.label
    if len(datum.float_data) != size:
        raise not_a_datum(key, source, f"it holds {len(datum.float_data)} floats for a "
                                       f"{'x'.join(map(str, shape))} image ({size})")
    return np.array(datum.float_data, np.float32).reshape(shape), datum.label


def not_a_datum(key: bytes, source: str, why: str) -> DataError:
    return DataError(f"record '{key_text(key)}' is not a Caffe Datum ({why})", file=source, hint=NOT_DATUM_HINT)


def encode_datum(image: np.ndarray, label: int) -> bytes:
    """A raw Datum of `image` (C, H, W): uint8 as `data` bytes, any other dtype as float_data."""
    channels, height, width = image.shape
    datum = pb.Datum(channels=channels, height=height, width=width, label=int(label))
    if image.dtype == np.uint8:
        datum.data = np.ascontiguousarray(image).tobytes()
    else:
        datum.float_data.extend(np.asarray(image, np.float32).ravel().tolist())
    return datum.SerializeToString()


def encode_file(data: bytes, label: int) -> bytes:
    """An encoded Datum holding the image file `data` (as convert_imageset --encoded writes it)."""
    return pb.Datum(data=data, label=int(label), encoded=True).SerializeToString()
