"""Caffe's databases: LMDB (the `lmdb` package, extra `protonet[lmdb]`) and LevelDB (`plyvel`, extra
`protonet[leveldb]`), read in key order with a cursor that wraps at the end as Caffe's DataReader does,
and LMDBs written as Caffe's tools write them.

A database is a folder: an LMDB holds `data.mdb`, a LevelDB `CURRENT`. It is opened read-only once per
process (LMDB and LevelDB both refuse a second open of the same folder) and shared by every layer that
reads it; each reader runs its own read transaction (LMDB) or iterator (LevelDB) from its own thread.
Nothing is loaded whole: records are read one at a time, so memory does not grow with the database.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import DataError, StorageError
from ..extras import require
from .datum import key_text

LMDB, LEVELDB = "LMDB", "LevelDB"
MARKERS = {LMDB: "data.mdb", LEVELDB: "CURRENT"}
COMMIT_EVERY = 1000  # records per write transaction, as Caffe's converters commit
INITIAL_MAP_SIZE = 64 << 20  # doubled whenever a write fills it
Record = tuple[bytes, bytes]


def database_kind(folder: Path) -> str:
    """LMDB or LevelDB, by the files in `folder`; a DataError for a folder that is neither."""
    for kind, marker in MARKERS.items():
        if (folder / marker).is_file():
            return kind
    raise DataError("is a folder, but neither an LMDB (no data.mdb) nor a LevelDB (no CURRENT)", file=str(folder),
                    hint="give an LMDB or LevelDB folder, an IDX or .npz file, or a dataset such as 'mnist:train'")


def lmdb_module() -> ModuleType:
    return require("lmdb", "lmdb", "reading or writing an LMDB needs the lmdb package, which is not installed",
                   hint="pip install 'protonet[lmdb]'")


def plyvel_module() -> ModuleType:
    return require("plyvel", "leveldb", "reading a LevelDB needs the plyvel package, which is not installed",
                   hint="pip install 'protonet[leveldb]'; or, where plyvel installs, `protonet data convert "
                        "LEVELDB_FOLDER NEW_LMDB` makes an LMDB of it (read with protonet[lmdb])")


class Database:
    """A read-only LMDB or LevelDB: `count` records, read in key order (`records`, `scan`)."""

    def __init__(self, folder: Path, kind: str) -> None:
        self.path, self.kind = str(folder), kind
        if kind == LMDB:
            lmdb = lmdb_module()
            try:
                self._handle: Any = lmdb.open(self.path, readonly=True, lock=True, readahead=False, max_readers=512)
            except lmdb.Error as exc:
                raise DataError(f"cannot open the LMDB ({exc})", file=self.path) from None
            self.count = self._handle.stat()["entries"]
        else:
            plyvel = plyvel_module()
            try:
                self._handle = plyvel.DB(self.path, create_if_missing=False)
            except plyvel.Error as exc:
                raise DataError(f"cannot open the LevelDB ({key_text(exc.args[0]) if exc.args else exc})",
                                file=self.path, hint="is another program using it?") from None
            self.count = sum(1 for _ in self._handle.iterator(include_value=False))
        if self.count == 0:
            raise DataError(f"the {kind} holds no records", file=self.path)

    def scan(self, start: int = 0) -> Iterator[Record]:
        """(key, value) of the records in key order, from the `start`-th to the last (one pass)."""
        if self.kind == LMDB:
            with self._handle.begin(buffers=False) as txn:
                cursor = txn.cursor()
                cursor.first()
                for _ in range(start):
                    cursor.next()
                yield from cursor.iternext()
        else:
            iterator = self._handle.iterator()
            try:
                for _ in range(start):
                    next(iterator)
                yield from iterator
            finally:
                iterator.close()

    def records(self, start: int = 0) -> Iterator[Record]:
        """(key, value) of the records in key order from the `start`-th, endlessly: after the last comes
        the first again, as Caffe's cursor wraps."""
        while True:
            yield from self.scan(start)
            start = 0

    def first(self) -> Record:
        scan = self.scan()
        try:
            return next(scan)
        finally:
            scan.close()


_open: weakref.WeakValueDictionary[str, Database] = weakref.WeakValueDictionary()


def open_database(folder: Path) -> Database:
    """The database in `folder`, opened once per process and shared while any reader holds it."""
    key = os.path.realpath(folder)
    database = _open.get(key)
    if database is None:
        database = Database(Path(folder), database_kind(Path(folder)))
        _open[key] = database
    return database


class LmdbWriter:
    """Writes a new LMDB at `dest`: into a temporary folder beside it, renamed into place by `commit()`,
    so an interrupted conversion leaves nothing under the final name. Records are committed
    COMMIT_EVERY at a time; the map size doubles whenever it fills (Caffe's MDB_MAP_FULL)."""

    def __init__(self, dest: Path) -> None:
        self.lmdb = lmdb_module()
        self.dest = Path(dest)
        if self.dest.exists():
            raise StorageError("already exists", file=str(self.dest), hint="remove it, or give a new folder")
        try:
            self.folder = Path(tempfile.mkdtemp(prefix=f".{self.dest.name}.", suffix=".part",
                                                dir=self.dest.parent if str(self.dest.parent) else "."))
        except OSError as exc:
            raise StorageError(f"cannot create the database: {exc.strerror or exc}", file=str(self.dest)) from None
        self.folder.chmod(0o755)  # mkdtemp's 0700 would keep other users out
        self.env = self.lmdb.open(str(self.folder), map_size=INITIAL_MAP_SIZE, subdir=True, lock=True)
        self.pending: list[Record] = []
        self.count = 0

    def put(self, key: bytes, value: bytes) -> None:
        self.pending.append((key, value))
        if len(self.pending) >= COMMIT_EVERY:
            self._flush()

    def _flush(self) -> None:
        while self.pending:
            try:
                with self.env.begin(write=True) as txn:
                    for key, value in self.pending:
                        txn.put(key, value)
            except self.lmdb.MapFullError:
                self.env.set_mapsize(2 * self.env.info()["map_size"])
                continue
            except self.lmdb.Error as exc:
                raise StorageError(f"cannot write the database: {exc}", file=str(self.dest)) from None
            self.count += len(self.pending)
            self.pending.clear()

    def commit(self) -> None:
        """Write what is pending, then move the database to its final name."""
        self._flush()
        self.env.sync(True)
        self.env.close()
        try:
            os.rename(self.folder, self.dest)
        except OSError as exc:
            raise StorageError(f"cannot move the database into place: {exc.strerror or exc}",
                               file=str(self.dest)) from None

    def abort(self) -> None:
        self.env.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> LmdbWriter:
        return self

    def __exit__(self, kind: type | None, *_: object) -> None:
        if kind is None:
            self.commit()
        else:
            with contextlib.suppress(Exception):
                self.abort()
