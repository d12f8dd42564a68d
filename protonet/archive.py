"""Zoo archives: deterministic .tar.gz packing, and extraction that is safe for archives from strangers.

Extraction never calls tarfile's extract. A first pass reads every header and refuses the whole
archive unless each member is a regular file or a folder, under one top-level folder, with a relative
name free of '..', and the members stay within MAX_MEMBERS and MAX_TOTAL_BYTES. Only then does a
second pass copy the file contents into a folder of its own, so links, devices and FIFOs are never
created and nothing is written outside that folder. Decompression is metered as it goes: the bytes
read may not run ahead of what the headers accepted so far declare (gzip bombs, huge pax headers).
"""

from __future__ import annotations

import gzip
import io
import re
import shutil
import tarfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from .download import TransferError, copy_capped, download
from .errors import DataError
from .io import write_error

MAX_MEMBERS = 1000
MAX_TOTAL_BYTES = 4 << 30  # the largest Caffe models (VGG) are about 0.55 GiB
HEADER_ALLOWANCE = 64 << 10  # decompressed bytes allowed per member beyond its contents (headers, padding)
MAX_ARCHIVE_BYTES = MAX_TOTAL_BYTES + (64 << 20)  # compressed, as downloaded
SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")  # two letters at least: 'C:' is a drive, not a scheme
HINT = "nothing was extracted; install only archives made by 'protonet zoo pack'"

Plan = list[tuple[str, tuple[str, ...]]]
Log = Callable[[str], None]


def pack_folder(folder: Path, root: str) -> bytes:
    """A gzipped tar of the regular files under `folder`, named `root/<relative path>`.

    Deterministic: sorted names, mode 0644, owner 0, mtime 0, so equal contents give equal bytes.
    Symlinks and anything else that is not a regular file are left out.
    """
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed, \
            tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
            info = tarfile.TarInfo(f"{root}/{path.relative_to(folder).as_posix()}")
            info.size, info.mode, info.mtime = path.stat().st_size, 0o644, 0
            with open(path, "rb") as handle:
                tar.addfile(info, handle)
    return buffer.getvalue()


def safe_extract(archive: Path, dest: Path, *, shown_as: str | None = None) -> str:
    """Check every member of the .tar.gz `archive`, then extract its files under the empty folder `dest`.

    Returns the archive's one top-level folder name. Raises DataError, having written nothing,
    when any member breaks a rule; errors name the archive as `shown_as` (default: its path).
    """
    shown = shown_as or str(archive)
    with _open(archive, shown) as (tar, meter):
        top, plan = _check_members(shown, tar, meter)
    with _open(archive, shown) as (tar, meter):
        for member, (name, parts) in zip(tar, plan):
            if member.name != name:
                raise DataError("the archive changed while it was extracted", file=shown, hint=HINT)
            meter.allow(member.size)
            if len(parts) > 1:
                _extract(tar, member, dest.joinpath(*parts))
    return top


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    try:
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "xb") as handle:
            shutil.copyfileobj(tar.extractfile(member), handle, 1 << 20)
    except OSError as exc:
        raise write_error(exc, target, "the install was abandoned and its files removed") from None


@contextmanager
def _open(archive: Path, shown: str) -> Iterator[tuple[tarfile.TarFile, _Meter]]:
    """The archive as a streamed tar (read once, front to back) over a metered gzip reader."""
    try:
        with gzip.open(archive, "rb") as raw:
            meter = _Meter(raw, shown)
            with tarfile.open(fileobj=meter, mode="r|") as tar:
                yield tar, meter
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"not a readable .tar.gz archive ({exc})", file=shown,
                        hint="pack zoo entries with 'protonet zoo pack'") from None


def _check_members(shown: str, tar: tarfile.TarFile, meter: _Meter) -> tuple[str, Plan]:
    """The top-level folder, and each member's name and path parts, after checking every rule."""
    top: str | None = None
    plan: Plan = []
    files: set[tuple[str, ...]] = set()
    folders: set[tuple[str, ...]] = set()
    total = 0
    for member in tar:
        def refuse(why: str, name: str = member.name) -> DataError:
            return DataError(f"unsafe archive: member '{name}' {why}", file=shown, hint=HINT)

        if len(plan) >= MAX_MEMBERS:
            raise refuse(f"is over the limit of {MAX_MEMBERS} members")
        kind = _odd_kind(member)
        if kind:
            raise refuse(f"is a {kind}; only regular files and folders are allowed")
        parts = _parts(member.name)
        if parts is None:
            raise refuse("has an absolute path, a '..' component or an empty name")
        top = top or parts[0]
        if parts[0] != top:
            raise refuse(f"is outside the archive's one top-level folder '{top}'")
        if member.isreg() and len(parts) == 1:
            raise refuse("is a file where the top-level folder should be")
        total += member.size
        if total > MAX_TOTAL_BYTES:
            raise refuse(f"takes the contents over the limit of {MAX_TOTAL_BYTES >> 20} MiB")
        parents = {parts[:i] for i in range(1, len(parts))}
        if parts in files or (member.isreg() and parts in folders) or parents & files:
            raise refuse("repeats or collides with another member's name")
        folders |= parents
        (files if member.isreg() else folders).add(parts)
        plan.append((member.name, parts))
        meter.allow(member.size)
    if top is None:
        raise DataError("the archive is empty", file=shown, hint=HINT)
    return top, plan


def _odd_kind(member: tarfile.TarInfo) -> str | None:
    """What a member is when it is neither a regular file nor a folder, else None."""
    for test, name in ((member.issym, "symbolic link"), (member.islnk, "hard link"),
                       (member.ischr, "character device"), (member.isblk, "block device"),
                       (member.isfifo, "FIFO")):
        if test():
            return name
    return None if member.isreg() or member.isdir() else f"member of tar type {member.type!r}"


def _parts(name: str) -> tuple[str, ...] | None:
    """The components of a member name; None when it is absolute, has '..' or a backslash, or is empty."""
    if name.startswith("/") or "\\" in name or "\0" in name:
        return None
    parts = tuple(p for p in PurePosixPath(name).parts if p != ".")
    return None if not parts or ".." in parts else parts


class _Meter(io.RawIOBase):
    """Reads the decompressed tar, refusing to go past what the accepted headers declare.

    Each accepted member allows its size plus HEADER_ALLOWANCE (its padding and the next header);
    a bomb, or a pax header declaring gigabytes, is stopped after that much, not read into memory.
    """

    def __init__(self, raw: io.BufferedIOBase, shown: str) -> None:
        self.raw, self.shown, self.left = raw, shown, HEADER_ALLOWANCE

    def allow(self, size: int) -> None:
        self.left += size + HEADER_ALLOWANCE

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        wanted = self.left + 1 if size is None or size < 0 else min(size, self.left + 1)
        data = self.raw.read(wanted)
        self.left -= len(data)
        if self.left < 0:
            raise DataError("unsafe archive: it unpacks to more than its headers declare",
                            file=self.shown, hint=HINT)
        return data


# ------------------------------------------------------------------ fetching


def fetch(source: str, handle: BinaryIO, log: Log, *, size: int | None = None) -> str:
    """Copy `source` (a local path or an https URL) into `handle`, at most `size` bytes when given (an
    index's size of the file), else MAX_ARCHIVE_BYTES; returns its sha256.

    Anything that starts like a URL scheme ('x:' with two letters or more) is a URL, downloaded as
    protonet.download allows (https only, also after a redirect); a local path with a colon can be
    given as ./NAME.
    """
    limit = MAX_ARCHIVE_BYTES if size is None else size
    if SCHEME.match(source):
        log(f"downloading {source}")
        try:
            return download(source, handle, max_bytes=limit)
        except TransferError as exc:
            raise DataError(str(exc), hint="check the URL and the network; try again: nothing was installed") from None
    try:
        with open(source, "rb") as src:
            return copy_capped(src, handle, max_bytes=limit, source=source)[0]
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise DataError(f"cannot read the archive: {exc.strerror}", file=source,
                        hint="give a .tar.gz made by 'protonet zoo pack', or an https URL") from None
