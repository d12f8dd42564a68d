"""Crash-safe file writes: a reader never sees a half-written file under its final name."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO

from .errors import StorageError


def open_regular(path: str | Path) -> BinaryIO:
    """`open(path, "rb")` for regular files only. A FIFO, device or socket would block or never end,
    so it is opened without blocking, checked, and refused with an OSError naming what it is."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"not a regular file (a {_file_kind(mode)})", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | Path) -> bytes:
    """The bytes of a regular file (see open_regular)."""
    with open_regular(path) as handle:
        return handle.read()


def hex_digest(stream: BinaryIO, algorithm: str = "sha256") -> str:
    """The hexadecimal `algorithm` digest (a hashlib name) of what `stream` holds, read 1 MiB at a time."""
    digest = hashlib.new(algorithm, usedforsecurity=False)  # a checksum of content, not a secret
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def _file_kind(mode: int) -> str:
    kinds = [(stat.S_ISDIR, "folder"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"),
             (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device")]
    return next((name for test, name in kinds if test(mode)), "special file")


def atomic_write(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file in the same folder, fsync, rename, fsync folder.

    On any error (a full disk, a permission) the temporary file is removed, any older file at
    `path` is left as it was, and a StorageError names the path.
    """
    try:
        replace_atomically(path, data)
    except OSError as exc:
        raise write_error(exc, path, "the previous file, if any, is unchanged") from None


def replace_atomically(path: str | Path, data: bytes) -> None:
    """atomic_write, raising the OSError itself (for callers that explain it their own way)."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    tmp = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; honour the umask as open() would
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        tmp = None
        fsync_dir(folder)
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def append(path: str | Path, data: bytes) -> None:
    """Append `data` to `path` (created when missing) in one write; on an error (a full disk) the file
    is cut back to its old length, so it never ends in a partial record, and a StorageError names it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as exc:
        raise write_error(exc, path, "nothing was written") from None
    try:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise write_error(exc, path, "the file is as it was before") from None
    finally:
        os.close(fd)


def fsync_file(path: str | Path) -> None:
    """Flush a file's data to disk (e.g. an appended log, at a snapshot); a StorageError when that fails."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise write_error(exc, path, "the data written last may be lost in a crash") from None


def write_error(exc: OSError, path: str | Path, hint: str, what: str = "cannot write") -> StorageError:
    """A one-line StorageError for a failed write, `what: reason`, with advice for a full disk."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = f"free some space; {hint}"
    return StorageError(f"{what}: {exc.strerror or exc}", file=str(path), hint=hint)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
