"""A lock file, so that two runs never write under the same snapshot prefix at once.

The lock is flock(2) on `<prefix>.lock`, a file holding the holder's pid and host. The kernel drops
a flock when its holder exits or is killed, so a lock file left behind by a dead run is stale and
is simply taken over. (Where locks are not supported, as on Windows or some network file systems,
no lock is taken.)
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from pathlib import Path
from types import TracebackType

from .errors import StorageError
from .io import write_error

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

log = logging.getLogger("protonet")


class RunLock:
    """An exclusive lock on `path`, re-entrant within its holder (nested `with` blocks count).

    Taking it fails at once, with a StorageError naming the other holder's pid and host, when
    another process (or another RunLock on the same file) holds it.
    """

    def __init__(self, path: str | Path, what: str) -> None:
        self.path = Path(path)
        self.what = what
        self._fd: int | None = None
        self._depth = 0

    def __enter__(self) -> RunLock:
        if self._depth == 0 and fcntl is not None:
            self._fd = self._take()
        self._depth += 1
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.unlink(self.path)  # still holding the lock: the next holder makes a new file
            os.close(fd)

    def _take(self) -> int | None:
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as exc:
                raise StorageError(f"cannot create the lock file: {exc.strerror or exc}", file=str(self.path),
                                   hint="make the snapshot folder writable") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                os.close(fd)
                raise StorageError(f"{self.what} is in use by another run ({holder})", file=str(self.path),
                                   hint="wait for that run to end or stop it, or use another snapshot_prefix"
                                   ) from None
            except OSError as exc:  # a file system without locks (some network mounts): go on without
                os.close(fd)
                log.warning("Cannot lock %s (%s): nothing stops a second run on this prefix", self.path,
                            exc.strerror or exc)
                return None
            if _is_current(fd, self.path):
                break
            os.close(fd)  # the holder before us removed this file as we opened it: try again
        stale = _holder(fd, default="")
        if stale:
            log.info("Taking over the stale lock %s (%s, no longer running)", self.path, stale)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        except OSError as exc:
            os.close(fd)
            raise write_error(exc, self.path, "no lock taken") from None
        return fd


def _holder(fd: int, default: str = "pid unknown") -> str:
    """'pid N on host H' from the lock file's contents."""
    try:
        text = os.pread(fd, 256, 0).decode("utf-8", "replace").split()
    except OSError:
        return default
    if not text:
        return default
    return f"pid {text[0]}" + (f" on host {text[1]}" if len(text) > 1 else "")


def _is_current(fd: int, path: Path) -> bool:
    """True when `fd` is still the file at `path` (not one unlinked or replaced since it was opened)."""
    try:
        mine, now = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (now.st_dev, now.st_ino)
