"""HDF5Data: rows of the datasets named after its tops, from the HDF5 files a list file names."""

from __future__ import annotations

import numpy as np

from ..data.hdf5 import read_datasets
from ..data.reader import ReadsRecords, RecordReader, find_listed, read_list
from ..data.sources import resolve_path
from ..errors import DataError
from .base import Blobs, Layer
from .registry import register


@register("HDF5Data")
class HDF5Data(ReadsRecords, Layer):
    """Rows of the HDF5 datasets named like the tops (e.g. data, label), from files listed in a text file.

    The source is a text file naming one .h5 file per line (relative to the current folder, else to
    the list's folder). Top k has the shape (batch_size, *dataset_k.shape[1:]); every file must hold
    every top's dataset, all with the same number of rows. The files are read into memory at setup,
    as stored, and a batch at a time is converted to the net's dtype. No transform (as in Caffe).

    Order, as Caffe's: the files in list order, the rows of each in file order, with wrap-around.
    With shuffle, each epoch reads the files in a new order and the rows of each file in a new
    order, both drawn from (net seed, epoch) alone, so `cursor()` resumes exactly. Needs h5py
    (`pip install protonet[hdf5]`).
    """

    bottoms = (0, 0)
    tops = (1, None)
    has_backward = False

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.hdf5_data_param
        self.check_source("hdf5_data_param", p, "give a text file listing .h5 files")
        if self.param.HasField("transform_param"):
            raise self.error("HDF5Data does not transform its data (as in Caffe)",
                             hint="remove transform_param; store the data ready to use")
        names = list(self.param.top)
        if len(names) != len(top):
            raise self.error(f"{len(top)} top blobs but {len(names)} top names",
                             hint="each top names the dataset it reads")
        list_file = resolve_path(p.source, self.ctx.base_dir)
        paths = [find_listed(name, list_file, line, "HDF5 file") for line, name in read_list(list_file)]
        files = [read_datasets(path, names) for path in paths]
        for path, arrays in zip(paths, files):
            self._check_file(str(path), names, arrays, files[0])
        self.rows = [np.concatenate(column) for column in zip(*files)]
        self.file_sizes = np.array([len(arrays[0]) for arrays in files])
        self.reader = RecordReader(len(self.rows[0]), p.batch_size, source=str(list_file),
                                   seed=lambda: self.ctx.seed, order=self._order if p.shuffle else None)
        for blob, rows in zip(top, self.rows):
            blob.reshape((p.batch_size, *rows.shape[1:]))

    @staticmethod
    def _check_file(path: str, names: list[str], arrays: list[np.ndarray], first: list[np.ndarray]) -> None:
        for name, array, reference in zip(names, arrays, first):
            if len(array) != len(arrays[0]):
                raise DataError(f"dataset '{name}' has {len(array)} rows, '{names[0]}' {len(arrays[0])}",
                                file=path, hint="every dataset of a file needs one row per record")
            if array.shape[1:] != reference.shape[1:]:
                raise DataError(f"dataset '{name}' has rows of shape {list(array.shape[1:])}, but the first "
                                f"file's have {list(reference.shape[1:])}", file=path)

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        """The top shapes are fixed at setup."""

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        index = self.reader.next_indices()
        for blob, rows in zip(top, self.rows):
            np.copyto(blob.data, rows[index], casting="unsafe")

    def _order(self, seed: int, epoch: int) -> np.ndarray:
        """An epoch's record order when shuffling: the files permuted, then the rows within each file."""
        rng = np.random.default_rng([seed, epoch])
        starts = np.concatenate([[0], np.cumsum(self.file_sizes)[:-1]])
        files = rng.permutation(len(self.file_sizes))
        return np.concatenate([starts[f] + rng.permutation(self.file_sizes[f]) for f in files])
