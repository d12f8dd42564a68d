"""Data: batches of records from a database (LMDB, LevelDB), an IDX or NPZ file, a dataset alias or a
synthetic problem, in Caffe's order."""

from __future__ import annotations

import logging
import weakref
from pathlib import Path

import numpy as np

from ..blob import check_shape
from ..data.reader import ReadsRecords, RecordReader, shuffled
from ..data.sources import database_folder, open_source
from ..data.stream import StreamedSource
from ..data.synthetic import synthetic_records
from ..data.transform import Transformer
from ..errors import DataError
from ..proto import pb
from .base import Blobs, Layer
from .registry import register

log = logging.getLogger("protonet")
LEGACY_TRANSFORM_FIELDS = ("scale", "mean_file", "crop_size", "mirror")


@register("Data")
class Data(ReadsRecords, Layer):
    """Records from a database, a file or a dataset alias (LMDB, LevelDB; IDX, NPZ; 'mnist:train'),
    transformed, in batches.

    Tops: data (N, C, H, W) in the net's dtype and, optionally, label (N,).

    Order: records in key (file) order with wrap-around, as Caffe's cursor reads them: batch k of a
    run holds records k*B .. k*B+B-1 (mod the record count), across epoch boundaries, so a Caffe run
    is reproduced batch for batch. With data_param.shuffle (files only), each epoch reads the records
    in a new permutation that depends only on (net seed, epoch) (seed 0 when the net has none), so
    `cursor()` -> (position in the epoch, epoch) is all a resumed run needs: `seek` restores it
    (the read position is protonet.data.reader's RecordReader, shared with the other data layers).

    Transform (transform_param; see protonet.data.transform): Caffe's crop_size (random window in
    TRAIN, centre otherwise), mirror, then (x - mean) * scale. As in Caffe, `mirror: true` flips each
    record at random with probability 1/2 in every phase, TEST included. Caffe's legacy data_param
    scale/mean_file/crop_size/mirror override transform_param, as Caffe's upgrade does.

    A file's records stay in memory in their stored dtype (uint8 for IDX), a batch at a time is
    converted, and crops and flips draw from the net's rng. A folder is a database of Caffe Datum
    records (backend: LMDB or LEVELDB; the folder's content decides), never loaded whole: a thread
    reads, decodes and transforms data_param.prefetch batches ahead (protonet.data.stream), each
    batch's crops and flips drawn from (net seed, layer, read position), so resuming stays exact.
    Encoded images decode as stored (grey or BGR) unless transform_param force_color / force_gray
    (or data_param.force_encoded_color) say otherwise.

    With `synthetic_param` (and no source) the records are a synthetic problem drawn by seed, each
    phase its own points of it (see protonet.data.synthetic): features (N, D, 1, 1), labels (N,).
    """

    bottoms = (0, 0)
    tops = (1, 2)
    has_backward = False
    stream: StreamedSource | None = None

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.data_param
        synthetic = self.param.HasField("synthetic_param")
        if synthetic and p.source:
            raise self.error("has both data_param.source and synthetic_param", hint="keep one of them")
        self.check_source("data_param", p, "give a database folder, a file, a dataset such as 'mnist:train', "
                          "or a synthetic_param", source_needed=not synthetic)
        param = transform_param(self.param)
        folder = None if synthetic else database_folder(p.source, self.ctx.base_dir)
        if folder is None:
            self.records = synthetic_records(self.param.synthetic_param, self.ctx.phase) if synthetic else \
                open_source(p.source, base_dir=self.ctx.base_dir, label_source=p.label_source,
                            with_labels=len(top) > 1)
            if len(top) > 1 and self.records.labels is None:
                raise DataError("has no labels, but the layer has a label top", file=self.records.path,
                                hint="add an array 'labels' to the .npz, or give the layer a single top")
            source, count, record_shape = self.records.path, self.records.num, self.records.images.shape[1:]
        else:
            self.stream = self._open_stream(folder, param)
            source, count, record_shape = self.stream.path, self.stream.num, self.stream.record_shape
        self.transformer = Transformer(param, record_shape, training=self.ctx.training, dtype=self.ctx.dtype,
                                       base_dir=self.ctx.base_dir)
        if self.stream is None:
            self._buffer = np.empty(check_shape((p.batch_size, *record_shape), "data batch"),
                                    self.records.images.dtype)
        else:
            check_shape((p.batch_size, *record_shape), "data batch")
            self.stream.start(p.batch_size, self.transformer, self.ctx.dtype, depth=p.prefetch, name=self.name)
            weakref.finalize(self, self.stream.close)
        ctx = self.ctx  # not self: without a cycle, a dropped layer (and its thread) goes at once
        self.reader = RecordReader(count, p.batch_size, source=source, seed=lambda: ctx.seed,
                                   order=shuffled(count) if p.shuffle else None)
        if p.rand_skip:  # Caffe: start after a random number of records in [0, rand_skip)
            self.reader.skip(int(self.ctx.rng.integers(p.rand_skip)))
        top[0].reshape((p.batch_size, *self.transformer.output_shape))
        if len(top) > 1:
            top[1].reshape((p.batch_size,))

    def _open_stream(self, folder: Path, param: pb.TransformationParameter) -> StreamedSource:
        p = self.param.data_param
        if p.shuffle:
            raise self.error("data_param.shuffle cannot reorder a database: its records are read in key order",
                             hint="shuffle it once when making it: `protonet data convert --shuffle`")
        if param.force_color and param.force_gray:
            raise self.error("transform_param has both force_color and force_gray", hint="give one of them")
        color = True if param.force_color or p.force_encoded_color else False if param.force_gray else None
        stream = StreamedSource(folder, color=color)
        named = pb.DataParameter.DB.Name(p.backend)
        if p.HasField("backend") and named.lower() != stream.database.kind.lower():
            log.warning("%s: data_param.backend is %s, but the folder is a%s %s: reading it as that", folder,
                        named, "n" if stream.database.kind == "LMDB" else "", stream.database.kind)
        if self.ctx.seed is None:
            self._seed = int(self.ctx.rng.integers(2**63))  # the net has none: batches draw from this one
        return stream

    def _stream_seed(self) -> int:
        return self.ctx.seed if self.ctx.seed is not None else self._seed

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        """The top shapes are fixed at setup."""

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        if self.stream is not None:
            images, labels = self.stream.batch(self.reader.advance(), self._stream_seed(), self.reader.ranks)
            top[0].data[...] = images
        else:
            index = self.reader.next_indices()
            np.take(self.records.images, index, axis=0, out=self._buffer)
            self.transformer.apply(self._buffer, top[0].data, self.ctx.rng)
            labels = self.records.labels[index] if len(top) > 1 else None
        if len(top) > 1:
            top[1].data[...] = labels


def transform_param(layer: pb.LayerParameter) -> pb.TransformationParameter:
    """transform_param, with any legacy data_param transform fields moved in (Caffe's upgrade)."""
    param = pb.TransformationParameter()
    param.CopyFrom(layer.transform_param)
    for name in LEGACY_TRANSFORM_FIELDS:
        if layer.data_param.HasField(name):
            setattr(param, name, getattr(layer.data_param, name))
    return param
