"""The read position of a data layer, and the list files that some data layers read.

A `RecordReader` hands out the indices of records 0 .. N-1 a batch at a time in Caffe's order:
batch k holds the records k*B .. k*B+B-1 (mod N), across epoch boundaries. When shuffling, epoch e
reads the records in an order drawn from (net seed, e) alone, so (position in the epoch, epoch)
is all a resumed run needs. Layers that mix in `ReadsRecords` expose the interface the solver
(snapshots, resume) and `protonet test` (one full pass) use: num_records, batch_size, cursor, seek.

Sharded over R ranks (`shard(r, R)`, data-parallel training), rank r reads the records whose offset in
that order is r mod R, as Caffe 1.0's data layers skip the others: batch k of rank r holds offsets
(k*B + j)*R + r, j < B, so the R batches of step k together are batch k of one reader of batch R*B. The
cursor stays the shared position (all ranks' records read so far), the same on every rank.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..io import read_regular

Order = Callable[[int, int], np.ndarray]  # (seed, epoch) -> the epoch's permutation of the records


class RecordReader:
    """Batches of record indices with wrap-around; `order` (when shuffling) permutes each epoch."""

    def __init__(self, num_records: int, batch_size: int, *, source: str, seed: Callable[[], int | None],
                 order: Order | None = None) -> None:
        self.num_records = num_records
        self.batch_size = batch_size
        self.source = source
        self._seed = seed
        self._order = order
        self._orders: dict[tuple[int, int], np.ndarray] = {}
        self._position = self._epoch = 0
        self.rank, self.ranks = 0, 1

    def shard(self, rank: int, ranks: int) -> None:
        """Read only the records whose offset is `rank` mod `ranks` (see the module's docstring)."""
        self.rank, self.ranks = rank, ranks

    def cursor(self) -> tuple[int, int]:
        """(position within the epoch, epoch) of the next record to read."""
        return self._position, self._epoch

    def seek(self, position: int, epoch: int) -> None:
        """Continue reading at `position` of epoch `epoch` (a `cursor()` value)."""
        if not (0 <= position < self.num_records and epoch >= 0):
            raise DataError(f"cannot resume at record {position} of epoch {epoch}: the source holds "
                            f"{self.num_records} records", file=self.source,
                            hint="the data changed since the snapshot was taken")
        self._position, self._epoch = int(position), int(epoch)

    def skip(self, count: int) -> None:
        """Move the cursor `count` records on (Caffe's rand_skip)."""
        epoch, position = divmod(self._epoch * self.num_records + self._position + count, self.num_records)
        self.seek(position, epoch)

    def advance(self) -> int:
        """The next batch's first record as an offset from the start of epoch 0 (its index is the offset
        mod N; the batch's next records follow every `ranks` offsets), moving the cursor past the batch:
        the read position of sources read in order."""
        start = self._epoch * self.num_records + self._position
        self._epoch, self._position = divmod(start + self.batch_size * self.ranks, self.num_records)
        return start + self.rank

    def next_indices(self) -> np.ndarray:
        """The record indices of the next batch, advancing the cursor."""
        n = self.num_records
        first = self.advance()
        epochs, index = np.divmod(first + self.ranks * np.arange(self.batch_size), n)
        if self._order is not None:
            for epoch in np.unique(epochs):
                mask = epochs == epoch
                index[mask] = self._permutation(int(epoch))[index[mask]]
        return index

    def _permutation(self, epoch: int) -> np.ndarray:
        seed = self._seed()
        seed = 0 if seed is None else seed % 2**64  # read late: a restore may change it
        if (seed, epoch) not in self._orders:
            if len(self._orders) > 1:
                self._orders.clear()
            self._orders[seed, epoch] = self._order(seed, epoch)
        return self._orders[seed, epoch]


def shuffled(num_records: int) -> Order:
    """The Data layer's shuffle: one permutation of all records per (seed, epoch)."""
    return lambda seed, epoch: np.random.default_rng([seed, epoch]).permutation(num_records)


class ReadsRecords:
    """Mixin for data layers (before Layer in the bases) with a `reader`: the read position the solver
    and `protonet test` use."""

    reader: RecordReader

    @property
    def num_records(self) -> int:
        return self.reader.num_records

    @property
    def batch_size(self) -> int:
        return self.reader.batch_size

    def check_source(self, field: str, param: Any, hint: str, *, source_needed: bool = True) -> None:
        """A ConfigError (naming the layer) unless `param` has a positive batch_size and (when needed) a
        source."""
        if param.batch_size <= 0:
            raise self.error(f"{field}.batch_size must be positive, found {param.batch_size}")
        if source_needed and not param.source:
            raise self.error(f"{field}.source is empty", hint=hint)

    def cursor(self) -> tuple[int, int]:
        """(position within the epoch, epoch) of the next record to read."""
        return self.reader.cursor()

    def seek(self, position: int, epoch: int) -> None:
        """Continue reading at `position` of epoch `epoch` (a `cursor()` value)."""
        self.reader.seek(position, epoch)


def read_list(path: Path) -> list[tuple[int, str]]:
    """The non-blank lines of a list file as (line number, text without surrounding blanks)."""
    try:
        text = read_regular(path).decode("utf-8")
    except UnicodeDecodeError:
        raise DataError("is not a text file (expected one entry per line)", file=str(path)) from None
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    lines = [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise DataError("lists no entries", file=str(path), hint="write one entry per line")
    return lines


def parse_image_list(list_file: Path, root_folder: str = "") -> tuple[list[int], list[str], list[int]]:
    """(line numbers, image paths joined to `root_folder`, labels) of a list of `path label` lines (the
    path may hold spaces: the label is the last field), as ImageData and convert_imageset read them."""
    lines, names, labels = [], [], []
    for line, text in read_list(list_file):
        fields = text.rsplit(maxsplit=1)
        try:
            label = int(fields[1]) if len(fields) == 2 else None
        except ValueError:
            label = None
        if label is None:
            raise DataError(f"expected 'path label' with an integer label, found '{text}'", file=str(list_file),
                            line=line)
        lines.append(line)
        names.append(os.path.join(root_folder, fields[0]))
        labels.append(label)
    return lines, names, labels


def find_listed(name: str, list_file: Path, line: int, what: str) -> Path:
    """The file a list names on `line`: absolute, else relative to the current folder, else to the
    list file's folder."""
    path = Path(name).expanduser()
    tried = [path] if path.is_absolute() else [path, list_file.parent / path]
    for candidate in tried:
        if candidate.is_file():
            return candidate
    looked = " or ".join(str(p.resolve()) for p in dict.fromkeys(tried))
    raise DataError(f"{what} '{name}' not found (looked for {looked})", file=str(list_file), line=line,
                    hint="paths in a list are relative to the current folder or to the list's folder")
