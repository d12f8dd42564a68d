"""CIFAR-10's published binary archive, read without extracting anything, and made into what Caffe's
examples/cifar10 makes of it.

The binary archive (cifar-10-binary.tar.gz) holds cifar-10-batches-bin/data_batch_1.bin .. _5.bin and
test_batch.bin: records of 1 label byte and 3072 pixel bytes (the red, green and blue 32x32 planes, rows
in order). The python archive holds the same records as pickles, which can run code when loaded:
protonet reads no pickles, and names the binary archive instead (PYTHON_ARCHIVE_MD5).

`make` writes, into the dataset folder:
  cifar10_train_lmdb, cifar10_test_lmdb  Caffe's convert_cifar_data: keys '%05d' (train: the five batches
                                         in order), raw Datums 3x32x32 uint8 (RGB, as stored);
  mean.binaryproto                       Caffe's compute_image_mean of the train records;
  {train,test}-{images-idx4,labels-idx1}-ubyte  the same records as IDX files, read whole into memory by
                                         the aliases 'cifar10:train' and 'cifar10:test'.
Each is written under a temporary name and renamed into place, so an interrupted run leaves only
complete files, and a later run makes just the missing ones.
"""

from __future__ import annotations

import io
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..io import atomic_write
from ..weights import mean_blobproto
from .database import LmdbWriter
from .datum import encode_datum
from .idx import write_idx

SHAPE = (3, 32, 32)
RECORD_BYTES = 1 + 3 * 32 * 32
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
BATCHES = (*TRAIN_BATCHES, "test_batch")
MEMBERS = {f"cifar-10-batches-bin/{batch}.bin": batch for batch in BATCHES}
PYTHON_ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"  # cifar-10-python.tar.gz, as its publisher gives it
LMDBS = {"train": "cifar10_train_lmdb", "test": "cifar10_test_lmdb"}
MEAN = "mean.binaryproto"
CORRUPT = "the archive is not CIFAR-10's binary archive, or it is damaged; fetch it again"

Split = tuple[np.ndarray, np.ndarray]  # images (N, 3, 32, 32) uint8, labels (N,) uint8
Log = Callable[[str], None]


def idx_names(split: str) -> tuple[str, str]:
    """The IDX files (images, labels) of `split` in the dataset folder."""
    return f"{split}-images-idx4-ubyte", f"{split}-labels-idx1-ubyte"


def products(split: str) -> list[str]:
    """What `make` writes of `split`."""
    return [*idx_names(split), LMDBS[split]] + ([MEAN] if split == "train" else [])


def made(folder: Path) -> bool:
    """Whether `folder` holds everything `make` writes."""
    return all((folder / name).exists() for split in LMDBS for name in products(split))


def make(archive: Path, folder: Path, log: Log) -> None:
    """Write the LMDBs, the mean and the IDX files of CIFAR-10's binary `archive` into
    `folder`, leaving those already there as they are."""
    splits = read_archive(archive)
    for split, (images, labels) in splits.items():
        missing = [name for name in products(split) if not (folder / name).exists()]
        if missing:
            log(f"{folder}: writing {', '.join(missing)} ({len(labels)} {split} records)")
        images_file, labels_file = idx_names(split)
        if images_file in missing:
            write_idx(folder / images_file, images)
        if labels_file in missing:
            write_idx(folder / labels_file, labels)
        if LMDBS[split] in missing:
            write_lmdb(folder / LMDBS[split], images, labels)
        if MEAN in missing:
            atomic_write(folder / MEAN, mean_blobproto(images.mean(axis=0, dtype=np.float64)))


def write_lmdb(dest: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """The records as convert_cifar_data writes them: keys '%05d', raw 3x32x32 Datums."""
    with LmdbWriter(dest) as writer:
        for index, (image, label) in enumerate(zip(images, labels)):
            writer.put(b"%05d" % index, encode_datum(image, int(label)))


def read_archive(path: Path) -> dict[str, Split]:
    """{'train': (images, labels), 'test': ...} of a CIFAR-10 archive, in one pass over its members."""
    batches: dict[str, Split] = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                batch = MEMBERS.get(member.name)
                if batch and member.isfile():
                    batches[batch] = read_binary(tar.extractfile(member).read(), member.name)
    except (OSError, EOFError, tarfile.TarError, zlib.error) as exc:
        raise DataError(f"cannot read the archive ({exc})", file=str(path), hint=CORRUPT) from None
    missing = [name for name in BATCHES if name not in batches]
    if missing:
        raise DataError(f"has no CIFAR-10 batch {', '.join(missing)}", file=str(path), hint=CORRUPT)
    train = [batches[name] for name in TRAIN_BATCHES]
    return {"train": (np.concatenate([images for images, _ in train]), np.concatenate([labels for _, labels in train])),
            "test": batches["test_batch"]}


def read_binary(data: bytes, name: str) -> Split:
    """The records of a binary batch: 1 label byte, then 3072 pixel bytes, each."""
    if not data or len(data) % RECORD_BYTES:
        raise DataError(f"holds {len(data)} bytes, not a whole number of {RECORD_BYTES}-byte records",
                        file=name, hint=CORRUPT)
    records = np.frombuffer(data, np.uint8).reshape(-1, RECORD_BYTES)
    labels = records[:, 0].copy()
    if labels.max() > 9:
        raise DataError(f"holds label {labels.max()}; CIFAR-10's are 0..9", file=name, hint=CORRUPT)
    return records[:, 1:].reshape(-1, *SHAPE), labels


def write_binary_archive(path: Path, splits: dict[str, Split]) -> None:
    """A CIFAR-10 binary archive of `splits`, laid out as the published one (the train records in five
    batches); for tests and benchmarks."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        train_images, train_labels = splits["train"]
        count = len(TRAIN_BATCHES)
        parts = zip(TRAIN_BATCHES, np.array_split(train_images, count), np.array_split(train_labels, count))
        for batch, images, labels in [*parts, ("test_batch", *splits["test"])]:
            records = np.concatenate([labels.reshape(-1, 1), images.reshape(len(images), -1)], axis=1).astype(np.uint8)
            member = tarfile.TarInfo(f"cifar-10-batches-bin/{batch}.bin")
            member.size = records.size
            tar.addfile(member, io.BytesIO(records.tobytes()))
    atomic_write(path, buffer.getvalue())
