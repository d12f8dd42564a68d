"""Caffe's DataTransformer, a batch at a time, in its order: crop, mirror, subtract the mean, scale.

For record n, channel c and output pixel (h, w):

    out[n, c, h, w] = (x[n, c, h0 + h, w0 + w'] - mean[c, h0 + h, w0 + w']) * scale
    w' = crop_w - 1 - w when record n is mirrored, else w

where (h0, w0) is a random offset per record in TRAIN, the centre ((H - crop) // 2, (W - crop) // 2)
in TEST, and (0, 0) without crop_size. As in Caffe, `mirror: true` flips each record with
probability 1/2 in every phase (TEST included). The mean is a mean_file image (C, H, W), taken
at the source pixel as Caffe does, or one mean_value per channel (a single value serves all).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from google.protobuf.message import DecodeError

from ..errors import ConfigError, DataError, WeightsError
from ..io import read_regular
from ..proto import pb
from ..weights import blobproto_to_array
from .sources import resolve_path


class Transformer:
    """Applies a TransformationParameter to batches of records of shape (C, H, W)."""

    def __init__(self, param: pb.TransformationParameter, record_shape: tuple[int, int, int], *,
                 training: bool, dtype: np.dtype, base_dir: Path) -> None:
        channels, height, width = record_shape
        self.record_shape = tuple(record_shape)
        self.scale = dtype.type(param.scale)
        self.crop = param.crop_size
        self.mirror = param.mirror
        self.training = training
        if self.crop > min(height, width):
            raise ConfigError(f"crop_size {self.crop} exceeds the records' {height}x{width} images")
        self.mean = self._mean(param, base_dir, dtype)
        self.output_shape = (channels, self.crop or height, self.crop or width)

    def _mean(self, param: pb.TransformationParameter, base_dir: Path, dtype: np.dtype) -> np.ndarray | None:
        channels = self.record_shape[0]
        if param.HasField("mean_file") and param.mean_value:
            raise ConfigError("transform_param has both mean_file and mean_value", hint="give one of them")
        values = list(param.mean_value)
        if values:
            if len(values) not in (1, channels):
                raise ConfigError(f"{len(values)} mean_value entries for records of {channels} channels",
                                  hint="give one value, or one per channel")
            return np.broadcast_to(np.array(values, dtype)[:, None, None], (channels, 1, 1))
        if param.HasField("mean_file"):
            mean = read_mean_file(param.mean_file, base_dir).astype(dtype)
            if mean.shape[-3:] != self.record_shape or mean.size != np.prod(self.record_shape):
                raise DataError(f"mean of shape {list(mean.shape)} does not fit records of shape "
                                f"{list(self.record_shape)}", file=param.mean_file)
            return mean.reshape(self.record_shape)
        return None

    def apply(self, batch: np.ndarray, out: np.ndarray, rng: np.random.Generator) -> None:
        """Write the transformed `batch` (B, C, H, W) into `out` (B, *output_shape)."""
        mean = self.mean
        if self.crop or self.mirror:
            rows, cols = self._windows(len(batch), rng)
            channel = np.arange(batch.shape[1])[None, :, None, None]
            batch = batch[np.arange(len(batch))[:, None, None, None], channel, rows, cols]
            if mean is not None and mean.shape[1:] != (1, 1):
                mean = mean[channel, rows, cols]
        if mean is None:
            np.copyto(out, batch, casting="unsafe")
        else:
            np.subtract(batch, mean, out=out, casting="unsafe")
        if self.scale != 1:
            out *= self.scale

    def _windows(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Source row and column indices, shaped (B, 1, h, 1) and (B, 1, 1, w), of each record's window."""
        _, height, width = self.record_shape
        out_h, out_w = self.output_shape[1:]
        flip = rng.integers(2, size=count).astype(bool) if self.mirror else np.zeros(count, bool)
        if self.crop and self.training:
            top = rng.integers(height - self.crop + 1, size=count)
            left = rng.integers(width - self.crop + 1, size=count)
        else:
            top = np.full(count, (height - out_h) // 2)
            left = np.full(count, (width - out_w) // 2)
        columns = np.where(flip[:, None], np.arange(out_w)[::-1], np.arange(out_w))
        rows = top[:, None] + np.arange(out_h)
        return rows[:, None, :, None], (left[:, None] + columns)[:, None, None, :]


def read_mean_file(name: str, base_dir: Path) -> np.ndarray:
    """The array in a .binaryproto mean file (a BlobProto), as Caffe's compute_image_mean writes it."""
    path = resolve_path(name, base_dir)
    blob = pb.BlobProto()
    try:
        blob.ParseFromString(read_regular(path))
        return blobproto_to_array(blob, file=str(path))
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise DataError(f"not a valid .binaryproto mean file ({exc})", file=str(path)) from None
    except WeightsError as exc:
        raise DataError(exc.message, file=str(path), hint=exc.hint) from None
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
