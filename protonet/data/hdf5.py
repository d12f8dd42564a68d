"""HDF5 files through h5py, the optional extra `protonet[hdf5]`: datasets read whole, files written whole.

A file is written into memory first and then put in place by `protonet.io.atomic_write`, so a
reader never finds a half-written file under its name.
"""

from __future__ import annotations

import io
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..blob import check_shape
from ..errors import DataError
from ..extras import require
from ..io import atomic_write

NUMERIC_KINDS = "uifb"


def h5py_module() -> ModuleType:
    """h5py, or a ConfigError saying how to install it."""
    return require("h5py", "hdf5", "HDF5 layers need the h5py package, which is not installed")


def read_datasets(path: Path, names: list[str]) -> list[np.ndarray]:
    """The datasets `names` of the HDF5 file `path`, in memory as stored; each numeric with >= 1 row.

    Each dataset's dtype and shape (at most max_elements() values) are checked before it is read."""
    h5py = h5py_module()
    try:
        with h5py.File(path, "r") as handle:
            found = [name for name in handle if isinstance(handle.get(name), h5py.Dataset)]  # bytes if not UTF-8
            arrays = []
            for name in names:
                if name not in found:
                    raise DataError(f"has no dataset '{name}' (found: {', '.join(map(str, found)) or 'none'})",
                                    file=str(path), hint="each top of an HDF5Data layer reads the dataset "
                                                         "of its name")
                arrays.append(_read(handle[name], name, str(path)))
    except (OSError, KeyError, ValueError, RuntimeError) as exc:  # h5py's faults on a damaged file
        raise DataError(f"not a readable HDF5 file ({exc})", file=str(path)) from None
    return arrays


def _read(dataset: Any, name: str, path: str) -> np.ndarray:
    """The values of an h5py dataset, once its dtype and shape are checked."""
    shape = dataset.shape  # None for an empty dataspace
    if dataset.dtype.kind not in NUMERIC_KINDS or not shape or shape[0] == 0:
        raise DataError(f"dataset '{name}' is {dataset.dtype} of shape {list(shape or ())}, expected "
                        "numbers with at least one row", file=path)
    check_shape(shape, f"dataset '{name}'", DataError, file=path)
    return dataset[()]


def write_datasets(path: Path, datasets: dict[str, np.ndarray]) -> None:
    """Write `datasets` {name: array} as a new HDF5 file at `path`, atomically (StorageError on failure)."""
    h5py = h5py_module()
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as handle:
        for name, array in datasets.items():
            handle.create_dataset(name, data=array)
    atomic_write(path, buffer.getvalue())
