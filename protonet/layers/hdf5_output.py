"""HDF5Output: writes its two bottoms to an HDF5 file as the datasets 'data' and 'label'."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.hdf5 import h5py_module, write_datasets
from .base import Blobs, Layer
from .registry import register

DATASETS = ("data", "label")


@register("HDF5Output")
class HDF5Output(Layer):
    """Saves bottoms 0 and 1, all rows so far, to hdf5_output_param.file_name as datasets 'data' and 'label'.

    Caffe's layer writes the first batch and fails on the second (the datasets already exist).
    protonet keeps every row of every forward since setup and, after each forward, replaces the file
    atomically with all of them: the file under that name is always whole, holding each bottom
    stacked along axis 0 in its shape and dtype. Meant for dumping predictions over a test pass;
    the rows stay in memory until the net is dropped. A relative file_name is relative to the
    current folder, as in Caffe. Needs h5py (`pip install protonet[hdf5]`).
    """

    bottoms = (2, 2)
    tops = (0, 0)
    has_backward = False

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        if not self.param.hdf5_output_param.file_name:
            raise self.error("hdf5_output_param.file_name is empty", hint="give the .h5 file to write")
        h5py_module()  # fail at build time, not after a pass, when h5py is missing
        self.path = Path(self.param.hdf5_output_param.file_name).expanduser()
        self.saved: list[list[np.ndarray]] = [[], []]

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        if bottom[0].shape[:1] != bottom[1].shape[:1]:
            raise self.error(f"data {list(bottom[0].shape)} and label {list(bottom[1].shape)} must have the "
                             "same batch size")

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        for name, rows, blob in zip(DATASETS, self.saved, bottom):
            if rows and rows[0].shape[1:] != blob.shape[1:]:
                raise self.error(f"the {name} bottom changed shape from {list(rows[0].shape)} to "
                                 f"{list(blob.shape)}; an HDF5 dataset has one row shape")
        for rows, blob in zip(self.saved, bottom):
            rows.append(blob.data.copy())
        write_datasets(self.path, {name: np.concatenate(rows) for name, rows in zip(DATASETS, self.saved)})
