"""MemoryData: batches cycled from arrays handed over from Python with `set_arrays(data, labels)`."""

from __future__ import annotations

import numpy as np

from ..data.reader import RecordReader
from ..data.transform import Transformer
from ..errors import DataError
from .base import Blobs, Layer
from .registry import register


@register("MemoryData")
class MemoryData(Layer):
    """Batches of arrays given from Python by `set_arrays(data, labels)`, cycled as by Caffe's Reset().

    memory_data_param gives batch_size, channels, height and width; data is (N, channels, height,
    width) with N a multiple of batch_size, labels (N,). Forward k returns records k*B .. k*B+B-1
    (mod N). `set_arrays` starts again at record 0; the arrays are held, not copied. Unlike Caffe's
    Reset() path, which skips it with a warning, transform_param applies (as in Caffe's
    AddDatumVector/AddMatVector). `cursor()`/`seek()` resume as in the Data layer; a seek made
    before any arrays are set (a solver restore) takes effect when they arrive.
    """

    bottoms = (0, 0)
    tops = (2, 2)
    has_backward = False

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.memory_data_param
        sizes = {"batch_size": p.batch_size, "channels": p.channels, "height": p.height, "width": p.width}
        if min(sizes.values()) <= 0:
            raise self.error(f"memory_data_param needs positive batch_size, channels, height and width, "
                             f"found {', '.join(f'{k} {v}' for k, v in sizes.items())}")
        self.record_shape = (p.channels, p.height, p.width)
        self.transformer = Transformer(self.param.transform_param, self.record_shape,
                                       training=self.ctx.training, dtype=self.ctx.dtype,
                                       base_dir=self.ctx.base_dir)
        self.data: np.ndarray | None = None
        self.labels: np.ndarray | None = None
        self.reader: RecordReader | None = None
        self._pending = (0, 0)
        top[0].reshape((p.batch_size, *self.transformer.output_shape))
        top[1].reshape((p.batch_size,))

    def set_arrays(self, data: np.ndarray, labels: np.ndarray) -> None:
        """Serve `data` (N, C, H, W) and `labels` (N,) from record 0 on (N a multiple of the batch)."""
        data, labels = np.asarray(data), np.asarray(labels)
        count, batch = len(data), self.param.memory_data_param.batch_size
        if data.shape != (count, *self.record_shape) or data.dtype.kind not in "uifb":
            raise DataError(f"data is {data.dtype} of shape {list(data.shape)}, expected numbers of shape "
                            f"(N, {', '.join(map(str, self.record_shape))})", layer=self.name)
        if count == 0 or count % batch:
            raise DataError(f"{count} records given, expected a positive multiple of the batch size {batch}",
                            layer=self.name, hint="as in Caffe, every batch is whole")
        if labels.size != count or labels.dtype.kind not in "uifb":
            raise DataError(f"labels are {labels.dtype} of shape {list(labels.shape)}, expected {count} "
                            "numbers", layer=self.name)
        self.data, self.labels = data, labels.reshape(count)
        self.reader = RecordReader(count, batch, source=f"arrays of layer '{self.name}'",
                                   seed=lambda: self.ctx.seed)
        self.reader.seek(*self._pending)
        self._pending = (0, 0)

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        """The top shapes are fixed at setup."""

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        if self.reader is None:
            raise DataError("has no data yet", layer=self.name,
                            hint="call set_arrays(data, labels) on the layer (net.layer_dict[name]) first")
        index = self.reader.next_indices()
        self.transformer.apply(self.data[index], top[0].data, self.ctx.rng)
        top[1].data[...] = self.labels[index]

    # -- the read position --------------------------------------------------------------------

    @property
    def batch_size(self) -> int:
        return self.param.memory_data_param.batch_size

    @property
    def num_records(self) -> int:
        return 0 if self.reader is None else self.reader.num_records

    def cursor(self) -> tuple[int, int]:
        """(position within the arrays, times they were read through) of the next record."""
        return self._pending if self.reader is None else self.reader.cursor()

    def seek(self, position: int, epoch: int) -> None:
        """Continue at a `cursor()` value (kept for the arrays to come when none are set yet)."""
        if self.reader is None:
            self._pending = (int(position), int(epoch))
        else:
            self.reader.seek(position, epoch)
