"""The datasets protonet can fetch (Fashion-MNIST, MNIST, CIFAR-10): where they live and how to get them.

A dataset lives in `data_root()/<name>` ($PROTONET_DATA, default ./data). `get_dataset` fills
that folder from a local copy where one exists (Debian's dataset-fashion-mnist package puts
Fashion-MNIST in /usr/share/datasets/fashion-mnist) or else over https from the publishers'
mirrors, and verifies every file before it is put in place.

CIFAR-10 is published as one archive, checked by the md5 its publisher gives (protonet.data.cifar makes
the LMDBs, the mean and the IDX files the Data layers read from it); a local copy of the archive is
given with `local=` (`protonet data get cifar10 --from FILE`).

The checksums are sha256 digests of the *uncompressed* IDX content, not of the .gz files:
Debian recompressed its copy, so its .gz bytes differ from the publisher's while the data is
identical, and a digest of the content accepts both. A file arrives under a temporary name and
is renamed only once its digest matches; a mismatch is an error and leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

from ..download import TransferError, download
from ..errors import DataError, StorageError, did_you_mean
from ..io import hex_digest, open_regular
from . import cifar
from .idx import open_maybe_gzip


@dataclass(frozen=True)
class DataFile:
    name: str           # the published file name (gzipped)
    sha256: str | None  # of the uncompressed content; None for a file made here from a verified archive


@dataclass(frozen=True)
class Archive:
    name: str       # the published file name
    md5: str        # the digest its publisher gives
    max_bytes: int  # a download larger than this is not the published file


@dataclass(frozen=True)
class Dataset:
    name: str
    mirrors: tuple[str, ...]                       # https base URLs, tried in order
    splits: dict[str, tuple[DataFile, DataFile]]   # split -> (images, labels)
    labels: tuple[str, ...] = ()                   # class names, by label value
    archive: Archive | None = None                 # the files are made from this archive, not fetched

    @property
    def files(self) -> list[DataFile]:
        return [f for pair in self.splits.values() for f in pair]


def _idx_pair(prefix: str, images_sha: str, labels_sha: str) -> tuple[DataFile, DataFile]:
    return (DataFile(f"{prefix}-images-idx3-ubyte.gz", images_sha),
            DataFile(f"{prefix}-labels-idx1-ubyte.gz", labels_sha))


DATASETS = {
    "fashion-mnist": Dataset(
        "fashion-mnist",
        ("https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
         "https://fashion-mnist.s3.eu-central-1.amazonaws.com/"),
        {"train": _idx_pair("train", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
         "test": _idx_pair("t10k", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                           "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34")},
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
         "Ankle boot")),
    "mnist": Dataset(
        "mnist",
        ("https://ossci-datasets.s3.amazonaws.com/mnist/",
         "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        {"train": _idx_pair("train", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
         "test": _idx_pair("t10k", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                           "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2")},
        tuple(str(digit) for digit in range(10))),
    "cifar10": Dataset(
        "cifar10",
        ("https://www.cs.toronto.edu/~kriz/",),
        {split: tuple(DataFile(name, None) for name in cifar.idx_names(split)) for split in ("train", "test")},
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        Archive("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530", 192 << 20)),
}

SYSTEM_DIRS = (Path("/usr/share/datasets"),)  # system-installed copies, one folder per dataset
MAX_DOWNLOAD_BYTES = 64 << 20  # each published IDX file is under 27 MB
ALIAS = re.compile(r"^([A-Za-z0-9_-]+):([A-Za-z0-9_-]+)$")

Log = Callable[[str], None]


def data_root() -> Path:
    """The folder holding one folder per dataset: $PROTONET_DATA, default ./data."""
    return Path(os.environ.get("PROTONET_DATA") or "data")


def dataset(name: str) -> Dataset:
    if name not in DATASETS:
        raise DataError(f"unknown dataset '{name}'",
                        hint=did_you_mean(name, DATASETS) or f"known: {', '.join(DATASETS)}")
    return DATASETS[name]


def present(folder: Path, file: DataFile) -> Path | None:
    """`file` in `folder`, gzipped or not, if there."""
    for candidate in (folder / file.name, folder / file.name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def find_dataset(name: str) -> Path:
    """The folder holding all files of dataset `name`: data_root()/name, else a system copy.

    Files are checked for presence only here; their content is verified as they are read.
    """
    info = dataset(name)
    local = data_root() / name
    for folder in (local, *(d / name for d in SYSTEM_DIRS)):
        if all(present(folder, f) for f in info.files):
            return folder
    raise DataError(f"dataset '{name}' not found in {local.resolve()}",
                    hint=f"run `protonet data get {name}` (or point PROTONET_DATA at the folder above it)")


def resolve_alias(source: str) -> tuple[tuple[Path, str], tuple[Path, str]] | None:
    """((images, sha256), (labels, sha256)) for a source 'dataset:split' of a known dataset, else None."""
    match = ALIAS.match(source)
    if not match or match[1] not in DATASETS:
        return None
    info, split = DATASETS[match[1]], match[2]
    if split not in info.splits:
        raise DataError(f"dataset '{info.name}' has no split '{split}'",
                        hint=f"use one of: {', '.join(info.splits)}")
    folder = find_dataset(info.name)
    images, labels = info.splits[split]
    return (present(folder, images), images.sha256), (present(folder, labels), labels.sha256)


def content_sha256(path: Path) -> str:
    """sha256 of the file's content, decompressed when gzipped."""
    with open_maybe_gzip(path) as stream:
        return hex_digest(stream)


def verified(path: Path, file: DataFile) -> bool:
    try:
        return content_sha256(path) == file.sha256
    except DataError:  # bad gzip data
        return False


def get_dataset(name: str, dest: str | Path | None = None, *, log: Log | None = None,
                local: str | Path | None = None) -> Path:
    """Put every file of dataset `name` into `dest` (default data_root()/name), verified; returns `dest`.

    Files already there with the right content are kept. Each missing one is copied from a local
    copy when one exists, else downloaded over https from the mirrors in turn. A dataset made from an
    archive (CIFAR-10) is made from `local`, the archive there, else the archive downloaded.
    """
    info = dataset(name)
    dest = Path(dest) if dest is not None else data_root() / name
    log = log or (lambda message: None)
    if local is not None and info.archive is None:
        raise DataError(f"dataset '{name}' is not made from an archive: a local copy is taken from "
                        f"{' or '.join(str(d / name) for d in SYSTEM_DIRS)}", hint="leave out --from")
    created = [folder for folder in (dest, *dest.parents) if not folder.exists()]  # deepest first
    try:
        try:
            dest.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the folder: {exc.strerror or exc}", file=str(dest)) from None
        if info.archive is not None:
            _make_from_archive(info, dest, log, Path(local) if local is not None else None)
            return dest
        for file in info.files:
            existing = present(dest, file)
            if existing and verified(existing, file):
                log(f"{existing}: present, checksum ok")
                continue
            _fetch(info, file, dest / file.name, log)
    except BaseException:
        for folder in created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when still empty
        raise
    return dest


def _make_from_archive(info: Dataset, dest: Path, log: Log, local: Path | None) -> None:
    """CIFAR-10's folder, made from the archive `local`, else from the copy already in `dest`, else
    from one downloaded into it; its md5 checked each time."""
    if cifar.made(dest):
        log(f"{dest}: present")
        return
    published = info.archive
    if local is not None:
        digest = file_md5(local)
        if digest == cifar.PYTHON_ARCHIVE_MD5:
            raise DataError("is CIFAR-10's python archive: its batches are pickles, which can run code when "
                            "loaded, and protonet loads none", file=str(local),
                            hint=f"give the binary archive, of the same records: {published.name}")
        if digest != published.md5:
            raise DataError(f"md5 {digest} is not that of {published.name} ({published.md5})", file=str(local),
                            hint=f"give {published.name} as published at {info.mirrors[0]}")
        log(f"{local}: md5 ok")
        archive = local
    else:
        archive = dest / published.name
        if archive.is_file() and file_md5(archive) == published.md5:
            log(f"{archive}: present, md5 ok")
        else:
            _download_archive(info, archive, log)
    cifar.make(archive, dest, log)


def _download_archive(info: Dataset, target: Path, log: Log) -> None:
    archive = info.archive
    _from_mirrors(info, archive.name, target, log, lambda path: file_md5(path) == archive.md5,
                  max_bytes=archive.max_bytes,
                  hint=f"check the network, or download {archive.name} elsewhere and give it with "
                       f"`protonet data get {info.name} --from FILE`")


def file_md5(path: Path) -> str:
    try:
        with open_regular(path) as stream:
            return hex_digest(stream, "md5")
    except FileNotFoundError:
        raise DataError("file not found", file=str(path)) from None
    except OSError as exc:
        raise StorageError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None


def _fetch(info: Dataset, file: DataFile, target: Path, log: Log) -> None:
    check = partial(verified, file=file)
    for folder in SYSTEM_DIRS:
        local = present(folder / info.name, file)
        if local:
            log(f"{target}: copying {local}")
            _install(target, f"{file.name} from {local}", partial(_copy_file, local), check)
            return
    _from_mirrors(info, file.name, target, log, check, max_bytes=MAX_DOWNLOAD_BYTES,
                  hint=f"check the network, or put the files of '{info.name}' into {target.parent} by hand")


def _from_mirrors(info: Dataset, name: str, target: Path, log: Log, check: Callable[[Path], bool], *,
                  max_bytes: int, hint: str) -> None:
    """Download `name` from the first of the dataset's mirrors that serves it whole into `target`."""
    failures = []
    for base in info.mirrors:
        url = base + name
        log(f"{target}: downloading {url}")
        try:
            _install(target, f"{name} from {url}", partial(download, url, max_bytes=max_bytes), check)
            return
        except TransferError as exc:
            failures.append(str(exc))
    raise DataError(f"could not download {name} ({'; '.join(failures)})", hint=hint)


def _install(target: Path, origin: str, write: Callable[[BinaryIO], None], check: Callable[[Path], bool]) -> None:
    """Write via `write(handle)` to a temporary file beside `target`; rename it once `check` accepts it."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        if not check(Path(tmp)):
            raise DataError(f"checksum mismatch for {origin}", file=str(target),
                            hint="the copy is corrupt or not the published file; nothing was kept")
        os.replace(tmp, target)
    except OSError as exc:
        raise StorageError(f"cannot write: {exc.strerror or exc}", file=str(target)) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def _copy_file(source: Path, handle: BinaryIO) -> None:
    with open(source, "rb") as src:
        shutil.copyfileobj(src, handle)


