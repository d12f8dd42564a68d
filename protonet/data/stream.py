"""A Data layer's database, streamed: records read in key order, decoded and transformed in a prefetch
thread (protonet.data.prefetch), a batch at a time.

The batch that starts at record offset o (counted from the start of epoch 0; record o mod N in key
order) is drawn with its own generator, seeded by (net seed, layer, o): crops and flips depend on
nothing but the seed and the read position, both in the solver state, so a resumed run, a replay and
an uninterrupted run see the same batches whatever the thread's timing.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import DataError
from .database import open_database
from .datum import decode_datum, key_text
from .prefetch import Prefetcher
from .transform import Transformer

Batch = tuple[np.ndarray, np.ndarray]  # (transformed images, labels)


class StreamedSource:
    """The records of the database in `folder`; shape and dtype are the first record's."""

    def __init__(self, folder: Path, *, color: bool | None) -> None:
        self.database = open_database(folder)
        self.path = self.database.path
        self.color = color
        key, value = self.database.first()
        image, _ = decode_datum(value, key, self.path, color=color)
        self.record_shape: tuple[int, ...] = image.shape
        self.dtype = image.dtype
        self._prefetcher: Prefetcher | None = None

    @property
    def num(self) -> int:
        return self.database.count

    def start(self, batch_size: int, transformer: Transformer, dtype: np.dtype, *, depth: int, name: str) -> None:
        """Batches of `batch_size` records, transformed into `dtype`, prefetched `depth` ahead."""
        self._batch_size, self._transformer, self._out_dtype = batch_size, transformer, dtype
        self._stream = zlib.crc32(name.encode())
        self._prefetcher = Prefetcher(self._batches, depth, f"prefetch {name}")

    def batch(self, offset: int, seed: int, stride: int = 1) -> Batch:
        """(images, labels) of the batch of the records at offsets `offset`, `offset + stride`, ... (a
        rank's share: RecordReader.shard), drawn with `seed`."""
        return self._prefetcher.get((offset, seed % 2**64, stride))

    def close(self) -> None:
        if self._prefetcher is not None:
            self._prefetcher.close()

    def _batches(self, tag: tuple[int, int, int]) -> Iterator[tuple[Batch, tuple[int, int, int]]]:
        offset, seed, stride = tag
        size = self._batch_size
        records = self.database.records(offset % self.num)
        try:
            while True:
                images = np.empty((size, *self.record_shape), self.dtype)
                labels = np.empty(size, np.float64)
                for slot in range(size):
                    images[slot], labels[slot] = self._read(*next(records))
                    for _ in range(stride - 1):  # the other ranks' records, skipped undecoded
                        next(records)
                out = np.empty((size, *self._transformer.output_shape), self._out_dtype)
                self._transformer.apply(images, out, np.random.default_rng([seed, self._stream, offset]))
                offset += size * stride
                yield (out, labels), (offset, seed, stride)
        finally:
            records.close()

    def _read(self, key: bytes, value: bytes) -> tuple[np.ndarray, int]:
        image, label = decode_datum(value, key, self.path, color=self.color)
        if image.shape != self.record_shape or image.dtype != self.dtype:
            raise DataError(f"record '{key_text(key)}' is {describe(image)}, but the first record is "
                            f"{describe_shape(self.record_shape, self.dtype)}", file=self.path,
                            hint="every record must have the first one's shape; `protonet data convert --resize H W` "
                                 "makes a database of one size")
        return image, label


def describe(image: np.ndarray) -> str:
    return describe_shape(image.shape, image.dtype)


def describe_shape(shape: tuple[int, ...], dtype: np.dtype) -> str:
    """'3x32x32 uint8'."""
    return f"{'x'.join(map(str, shape))} {np.dtype(dtype).name}"
