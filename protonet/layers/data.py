"""Data: batches of records from an IDX or NPZ file, a dataset alias or a synthetic problem, in Caffe's order."""

from __future__ import annotations

import numpy as np

from ..blob import check_shape
from ..data.reader import ReadsRecords, RecordReader, shuffled
from ..data.sources import open_source
from ..data.synthetic import synthetic_records
from ..data.transform import Transformer
from ..errors import DataError
from ..proto import pb
from .base import Blobs, Layer
from .registry import register

LEGACY_TRANSFORM_FIELDS = ("scale", "mean_file", "crop_size", "mirror")


@register("Data")
class Data(ReadsRecords, Layer):
    """Records from a file or dataset alias (IDX, NPZ; 'fashion-mnist:train'), transformed, in batches.

    Tops: data (N, C, H, W) in the net's dtype and, optionally, label (N,).

    Order: records in file order with wrap-around, as Caffe's cursor reads them: batch k of a run
    holds records k*B .. k*B+B-1 (mod the record count), across epoch boundaries, so a Caffe run
    is reproduced batch for batch. With data_param.shuffle, each epoch reads the records in a
    new permutation that depends only on (net seed, epoch) (seed 0 when the net has none), so
    `cursor()` -> (position in the epoch, epoch) is all a resumed run needs: `seek` restores it
    (the read position is protonet.data.reader's RecordReader, shared with the other data layers).

    Transform (transform_param; see protonet.data.transform): (x - mean) * scale, then crop_size
    (random window in TRAIN, centre in TEST) and mirror. As in Caffe, `mirror: true` flips each
    record at random with probability 1/2 in every phase, TEST included. Crops and flips draw
    from the net's rng. Caffe's legacy data_param scale/mean_file/crop_size/mirror override
    transform_param, as Caffe's upgrade does.

    Records stay in memory in their stored dtype (uint8 for IDX); a batch at a time is converted.

    With `synthetic_param` (and no source) the records are a synthetic problem drawn by seed, each
    phase its own points of it (see protonet.data.synthetic): features (N, D, 1, 1), labels (N,).
    """

    bottoms = (0, 0)
    tops = (1, 2)
    has_backward = False

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.data_param
        if self.param.HasField("synthetic_param"):
            if p.source:
                raise self.error("has both data_param.source and synthetic_param", hint="keep one of them")
            self.check_source("data_param", p, "", source_needed=False)
            self.records = synthetic_records(self.param.synthetic_param, self.ctx.phase)
        else:
            self.check_source("data_param", p, "give a file, a dataset such as 'fashion-mnist:train', or a "
                              "synthetic_param")
            self.records = open_source(p.source, base_dir=self.ctx.base_dir, label_source=p.label_source,
                                       with_labels=len(top) > 1)
        if len(top) > 1 and self.records.labels is None:
            raise DataError("has no labels, but the layer has a label top", file=self.records.path,
                            hint="add an array 'labels' to the .npz, or give the layer a single top")
        record_shape = self.records.images.shape[1:]
        self.transformer = Transformer(transform_param(self.param), record_shape,
                                       training=self.ctx.training, dtype=self.ctx.dtype,
                                       base_dir=self.ctx.base_dir)
        self._buffer = np.empty(check_shape((p.batch_size, *record_shape), "data batch"), self.records.images.dtype)
        count = self.records.num
        self.reader = RecordReader(count, p.batch_size, source=self.records.path,
                                   seed=lambda: self.ctx.seed, order=shuffled(count) if p.shuffle else None)
        if p.rand_skip:  # Caffe: start after a random number of records in [0, rand_skip)
            self.reader.skip(int(self.ctx.rng.integers(p.rand_skip)))
        top[0].reshape((p.batch_size, *self.transformer.output_shape))
        if len(top) > 1:
            top[1].reshape((p.batch_size,))

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        """The top shapes are fixed at setup."""

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        index = self.reader.next_indices()
        np.take(self.records.images, index, axis=0, out=self._buffer)
        self.transformer.apply(self._buffer, top[0].data, self.ctx.rng)
        if len(top) > 1:
            top[1].data[...] = self.records.labels[index]


def transform_param(layer: pb.LayerParameter) -> pb.TransformationParameter:
    """transform_param, with any legacy data_param transform fields moved in (Caffe's upgrade)."""
    param = pb.TransformationParameter()
    param.CopyFrom(layer.transform_param)
    for name in LEGACY_TRANSFORM_FIELDS:
        if layer.data_param.HasField(name):
            setattr(param, name, getattr(layer.data_param, name))
    return param
