"""HDF5 files through h5py, the optional extra `protonet[hdf5]`: datasets read whole, files written whole.

A file is written into memory first and then put in place by `protonet.io.atomic_write`, so a
reader never finds a half-written file under its name.
"""

from __future__ import annotations

import io
from pathlib import Path
from types import ModuleType

import numpy as np

from ..errors import ConfigError, DataError
from ..io import atomic_write

NUMERIC_KINDS = "uifb"


def h5py_module() -> ModuleType:
    """h5py, or a ConfigError saying how to install it."""
    try:
        import h5py
    except ImportError:
        raise ConfigError("HDF5 layers need the h5py package, which is not installed",
                          hint="pip install protonet[hdf5]") from None
    return h5py


def read_datasets(path: Path, names: list[str]) -> list[np.ndarray]:
    """The datasets `names` of the HDF5 file `path`, in memory as stored; each numeric with >= 1 axis."""
    h5py = h5py_module()
    try:
        with h5py.File(path, "r") as handle:
            found = [name for name in handle if isinstance(handle[name], h5py.Dataset)]
            arrays = []
            for name in names:
                if name not in found:
                    raise DataError(f"has no dataset '{name}' (found: {', '.join(found) or 'none'})",
                                    file=str(path), hint="each top of an HDF5Data layer reads the dataset "
                                                         "of its name")
                arrays.append(handle[name][()])
    except OSError as exc:
        raise DataError(f"not a readable HDF5 file ({exc})", file=str(path)) from None
    for name, array in zip(names, arrays):
        if array.dtype.kind not in NUMERIC_KINDS or array.ndim < 1 or len(array) == 0:
            raise DataError(f"dataset '{name}' is {array.dtype} of shape {list(array.shape)}, expected "
                            "numbers with at least one row", file=str(path))
    return arrays


def write_datasets(path: Path, datasets: dict[str, np.ndarray]) -> None:
    """Write `datasets` {name: array} as a new HDF5 file at `path`, atomically (StorageError on failure)."""
    h5py = h5py_module()
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as handle:
        for name, array in datasets.items():
            handle.create_dataset(name, data=array)
    atomic_write(path, buffer.getvalue())
