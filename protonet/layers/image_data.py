"""ImageData: images named in a `path label` list, decoded (BGR, as in Caffe), transformed, in batches."""

from __future__ import annotations

import numpy as np

from ..blob import check_shape
from ..data.images import pillow, read_image
from ..data.reader import ReadsRecords, RecordReader, find_listed, parse_image_list, shuffled
from ..data.sources import resolve_path
from ..data.transform import Transformer
from ..errors import DataError
from .base import Blobs, Layer
from .registry import register

DEPRECATED = ("scale", "mean_file", "crop_size", "mirror")


@register("ImageData")
class ImageData(ReadsRecords, Layer):
    """Images listed as `path label` lines in a text file, decoded with Pillow (BGR), transformed, in batches.

    Tops: data (N, C, H, W) in the net's dtype and, optionally, label (N,). Each line holds an
    image path, a space and an integer label (the path may contain spaces: the label is the last
    field). A path is joined to root_folder and looked up relative to the current folder, else to
    the list's folder. Colour images are 3 channels in BGR order, as Caffe's OpenCV decodes them
    (is_color: false gives 1 grey channel); new_height and new_width resize every image
    (bilinear); without them all images must have the first one's size. Images are decoded a
    batch at a time, at every forward.

    Order: list order with wrap-around; with shuffle, a new permutation per epoch drawn from (net
    seed, epoch), so `cursor()` resumes exactly; rand_skip starts at a random record below it.
    transform_param applies as in the Data layer (protonet.data.transform). Needs Pillow
    (`pip install protonet[images]`).
    """

    bottoms = (0, 0)
    tops = (1, 2)
    has_backward = False

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        p = self.param.image_data_param
        self.check_source("image_data_param", p, "give a text file of 'path label' lines")
        if (p.new_height > 0) != (p.new_width > 0):
            raise self.error(f"new_height {p.new_height} and new_width {p.new_width} must be set together",
                             hint="give both to resize, or neither")
        for name in DEPRECATED:
            if p.HasField(name):
                raise self.error(f"image_data_param.{name} is deprecated (Caffe ignores it here)",
                                 hint=f"move it to transform_param {{ {name}: ... }}")
        pillow()
        self.list_file = resolve_path(p.source, self.ctx.base_dir)
        self.lines, self.names, labels = parse_image_list(self.list_file, p.root_folder)
        self.labels = np.array(labels, np.float64)
        self.size = (p.new_height, p.new_width) if p.new_height else None
        self.record_shape = self._decode(0).shape
        self.transformer = Transformer(self.param.transform_param, self.record_shape,
                                       training=self.ctx.training, dtype=self.ctx.dtype,
                                       base_dir=self.ctx.base_dir)
        self._buffer = np.empty(check_shape((p.batch_size, *self.record_shape), "image batch"), np.uint8)
        count = len(self.names)
        self.reader = RecordReader(count, p.batch_size, source=str(self.list_file),
                                   seed=lambda: self.ctx.seed, order=shuffled(count) if p.shuffle else None)
        if p.rand_skip:  # Caffe: start after a random number of records in [0, rand_skip)
            self.reader.skip(int(self.ctx.rng.integers(p.rand_skip)))
        top[0].reshape((p.batch_size, *self.transformer.output_shape))
        if len(top) > 1:
            top[1].reshape((p.batch_size,))

    def _decode(self, index: int) -> np.ndarray:
        """Record `index` decoded, as (C, H, W) uint8."""
        line = self.lines[index]
        path = find_listed(self.names[index], self.list_file, line, "image")
        return read_image(path, color=self.param.image_data_param.is_color, size=self.size,
                          source=str(self.list_file), line=line)

    def _read(self, index: int) -> np.ndarray:
        """Record `index` decoded, checked to have the records' shape (the first image's)."""
        image = self._decode(index)
        if image.shape != self.record_shape:
            (_, h, w), (_, ih, iw) = self.record_shape, image.shape
            raise DataError(f"image '{self.names[index]}' is {ih}x{iw}, but the first one is {h}x{w}",
                            file=str(self.list_file), line=self.lines[index],
                            hint="set image_data_param new_height and new_width to resize every image")
        return image

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        """The top shapes are fixed at setup."""

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        index = self.reader.next_indices()
        for slot, record in enumerate(index):
            self._buffer[slot] = self._read(record)
        self.transformer.apply(self._buffer, top[0].data, self.ctx.rng)
        if len(top) > 1:
            top[1].data[...] = self.labels[index]
