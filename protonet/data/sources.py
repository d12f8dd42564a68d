"""Data sources: resolve a `source` (path or dataset alias) and hold its records in memory (a folder is a
database, streamed instead: protonet.data.stream).

Images stay in their stored dtype (uint8 for IDX: one byte per pixel); the Data layer converts
a batch at a time. Nets opened on the same unchanged file share one read-only copy.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, did_you_mean
from . import datasets
from .idx import read_idx
from .npz import read_npz

NUMERIC_KINDS = "uif"
IMAGES_IDX = re.compile(r"images-idx[34]")  # an IDX images file, named as its labels file is but for this
FORMATS = "IDX files (MNIST format, gzipped or not) and .npz archives (arrays 'data' and 'labels')"


@dataclass(eq=False)
class Records:
    """A dataset in memory: images (N, C, H, W) as stored, labels (N,) or None."""

    images: np.ndarray
    labels: np.ndarray | None
    path: str

    @property
    def num(self) -> int:
        return len(self.images)


_cache: weakref.WeakValueDictionary[tuple, Records] = weakref.WeakValueDictionary()


def open_source(source: str, *, base_dir: Path, label_source: str = "", with_labels: bool = True) -> Records:
    """The records of `source`: a dataset alias such as 'fashion-mnist:train', an .npz or an IDX file.

    Paths are absolute, else relative to the current folder, else to `base_dir` (the net
    file's folder). IDX labels come from `label_source`, else from the images path with
    'images-idx3' (or idx4, CIFAR-10's) replaced by 'labels-idx1'.
    """
    alias = datasets.resolve_alias(source)
    if alias is not None:
        (images, images_sha), (labels, labels_sha) = alias
        return _load(images, labels if with_labels else None, images_sha, labels_sha)
    path = resolve_path(source, base_dir)
    if path.is_dir():
        raise DataError("is a folder: a database (LMDB, LevelDB) is streamed, not held in memory", file=str(path),
                        hint=f"in memory: {FORMATS}")
    if path.suffix == ".npz":
        return _load(path, None)
    if not with_labels:
        labels = None
    elif label_source:
        labels = resolve_path(label_source, base_dir)
    elif IMAGES_IDX.search(path.name):
        labels = resolve_path(str(path.with_name(IMAGES_IDX.sub("labels-idx1", path.name))), base_dir)
    else:
        raise DataError("cannot tell where the labels of this IDX file are", file=str(path),
                        hint="set data_param.label_source, or give the layer a single top")
    return _load(path, labels)


def database_folder(source: str, base_dir: Path) -> Path | None:
    """The folder `source` names (a database: LMDB or LevelDB), or None for a file or a dataset alias."""
    if is_dataset_alias(source):
        return None
    path = resolve_path(source, base_dir)
    return path if path.is_dir() else None


def is_dataset_alias(source: str) -> bool:
    """Whether `source` names a split of a known dataset ('mnist:train')."""
    alias = datasets.ALIAS.match(source)
    return bool(alias and alias[1] in datasets.DATASETS)


def resolve_path(name: str, base_dir: Path) -> Path:
    """`name` as an existing path: absolute, relative to the current folder, or to `base_dir`."""
    path = Path(name).expanduser()
    if path.is_absolute() or path.exists():
        if not path.exists():
            raise _missing(name, [path])
        return path
    beside = Path(base_dir) / path
    if beside.exists():
        return beside
    raise _missing(name, [path.resolve(), beside])


def _missing(name: str, tried: list[Path]) -> DataError:
    looked = " or ".join(str(p) for p in tried)
    alias = datasets.ALIAS.match(name)
    if alias and alias[1] not in datasets.DATASETS:
        hint = did_you_mean(alias[1], datasets.DATASETS) or f"known datasets: {', '.join(datasets.DATASETS)}"
    else:
        hint = ("for the built-in datasets use source: 'fashion-mnist:train' (or :test, or mnist:...) "
                "after `protonet data get fashion-mnist`")
    return DataError(f"data source '{name}' not found (looked for {looked})", hint=hint)


def _load(images: Path, labels: Path | None, images_sha: str | None = None,
          labels_sha: str | None = None) -> Records:
    key = (_identity(images), _identity(labels) if labels else None)
    records = _cache.get(key)
    if records is None:
        if images.suffix == ".npz":
            data, label_array = read_npz(images)
        else:
            data = read_idx(images, sha256=images_sha)
            label_array = read_idx(labels, sha256=labels_sha) if labels else None
        records = Records(*check_arrays(data, label_array, str(images), str(labels or images)), str(images))
        _cache[key] = records
    return records


def _identity(path: Path) -> tuple:
    stat = path.stat()
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


def check_arrays(data: np.ndarray, labels: np.ndarray | None, data_name: str,
                 labels_name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Numeric images (N, C, H, W), or (N, H, W) given one channel, and (N,) labels."""
    if data.dtype.kind not in NUMERIC_KINDS or data.ndim not in (3, 4) or len(data) == 0:
        raise DataError(f"images are {data.dtype} of shape {list(data.shape)}, expected numbers of shape "
                        "(N, C, H, W) or (N, H, W) with N > 0", file=data_name)
    if data.ndim == 3:
        data = data[:, None]
    if labels is not None and (labels.dtype.kind not in NUMERIC_KINDS or labels.shape != data.shape[:1]):
        raise DataError(f"labels are {labels.dtype} of shape {list(labels.shape)}, expected numbers of shape "
                        f"[{len(data)}], one per image", file=labels_name)
    return data, labels
