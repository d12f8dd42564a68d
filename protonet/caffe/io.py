"""pycaffe's caffe.io: proto <-> array conversions, image loading and resizing, and the Transformer.

Conversions follow Caffe's python/caffe/io.py (arrays come back as float64, as there). Images are
decoded by Pillow (the extra protonet[images]) to float32 in [0, 1], H x W x C, RGB; resizing is
numpy's own interpolation (order 0: nearest, 1: bilinear on pixel centres, edges clamped), where
Caffe calls scikit-image.
"""

from __future__ import annotations

import io as _bytes_io
from collections.abc import Sequence

import numpy as np

from ..blob import check_shape
from ..data.images import pillow
from ..errors import DataError
from ..io import read_regular
from ..proto import pb

GREY_WEIGHTS = np.array([0.2125, 0.7154, 0.0721], np.float32)  # scikit-image's rgb2gray (ITU-R 709)

# -- proto / datum / ndarray conversion ---------------------------------------------------------------


def blobproto_to_array(blob: pb.BlobProto, return_diff: bool = False) -> np.ndarray:
    """The data (or diff) of a BlobProto, shaped by its legacy num/channels/height/width when set, else by
    its shape; a ValueError when the count does not fit the shape."""
    values = np.array(blob.diff if return_diff else blob.data, dtype=float)
    legacy = ("num", "channels", "height", "width")
    if any(blob.HasField(name) for name in legacy):
        return values.reshape([getattr(blob, name) for name in legacy])
    return values.reshape(list(blob.shape.dim))


def array_to_blobproto(arr: np.ndarray, diff: np.ndarray | None = None) -> pb.BlobProto:
    """A BlobProto of `arr`'s shape and values (and `diff`'s values when given)."""
    blob = pb.BlobProto()
    blob.shape.dim.extend(arr.shape)
    blob.data.extend(np.asarray(arr, float).flat)
    if diff is not None:
        blob.diff.extend(np.asarray(diff, float).flat)
    return blob


def arraylist_to_blobprotovector_str(arraylist: Sequence[np.ndarray]) -> bytes:
    """A serialized BlobProtoVector of the arrays."""
    return pb.BlobProtoVector(blobs=[array_to_blobproto(a) for a in arraylist]).SerializeToString()


def blobprotovector_str_to_arraylist(data: bytes) -> list[np.ndarray]:
    vector = pb.BlobProtoVector()
    vector.ParseFromString(data)
    return [blobproto_to_array(blob) for blob in vector.blobs]


def array_to_datum(arr: np.ndarray, label: int | None = None) -> pb.Datum:
    """A Datum of a (C, H, W) array: uint8 as bytes in `data`, other types as `float_data`."""
    if arr.ndim != 3:
        raise ValueError(f"Incorrect array shape: {list(arr.shape)}, expected (channels, height, width)")
    datum = pb.Datum(channels=arr.shape[0], height=arr.shape[1], width=arr.shape[2])
    if arr.dtype == np.uint8:
        datum.data = arr.tobytes()
    else:
        datum.float_data.extend(np.asarray(arr, float).flat)
    if label is not None:
        datum.label = label
    return datum


def datum_to_array(datum: pb.Datum) -> np.ndarray:
    """The (C, H, W) array of a Datum: uint8 from `data`, else float64 from `float_data` (not the label)."""
    shape = (datum.channels, datum.height, datum.width)
    if len(datum.data):
        return np.frombuffer(datum.data, dtype=np.uint8).reshape(shape)
    return np.array(datum.float_data, dtype=float).reshape(shape)


# -- images -----------------------------------------------------------------------------------------


def load_image(filename: str, color: bool = True) -> np.ndarray:
    """An image file as float32 in [0, 1]: (H, W, 3) RGB when `color` (grey images repeated), else
    (H, W, 1) intensity (colour images converted with Y = 0.2125 R + 0.7154 G + 0.0721 B). Alpha is dropped."""
    image_module = pillow()
    try:
        encoded = read_regular(filename)
    except OSError as exc:
        raise DataError(f"cannot read the image: {exc.strerror or exc}", file=str(filename)) from None
    try:
        with image_module.open(_bytes_io.BytesIO(encoded)) as image:
            check_shape((*image.size[::-1], 3), f"image '{filename}'", DataError)  # before decoding
            grey = image.mode in ("1", "L", "LA", "I", "I;16", "F")
            pixels = np.asarray(image.convert("L" if grey else "RGB"), np.float32) / 255
    except (OSError, ValueError, SyntaxError, image_module.DecompressionBombError) as exc:
        raise DataError(f"cannot decode the image ({exc})", file=str(filename),
                        hint="the file is not an image Pillow reads, or it is truncated") from None
    if grey:
        pixels = pixels[:, :, None]
        return np.repeat(pixels, 3, axis=2) if color else pixels
    return pixels if color else (pixels @ GREY_WEIGHTS)[:, :, None]


def resize_image(im: np.ndarray, new_dims: Sequence[int], interp_order: int = 1) -> np.ndarray:
    """An (H, W, K) image resized to new_dims = (height, width): nearest (order 0) or bilinear (order 1),
    each output pixel centre mapped to (i + 0.5) * H / height - 0.5 in the input, edges clamped."""
    if interp_order not in (0, 1):
        raise ValueError(f"interp_order must be 0 (nearest) or 1 (bilinear), found {interp_order}")
    im = np.asarray(im, np.float32)
    height, width = int(new_dims[0]), int(new_dims[1])
    rows = _sample_points(im.shape[0], height, interp_order)
    cols = _sample_points(im.shape[1], width, interp_order)
    if interp_order == 0:
        return im[rows[0]][:, cols[0]]
    (r0, r1, fr), (c0, c1, fc) = rows, cols
    fr, fc = fr[:, None, None], fc[None, :, None]
    top = im[r0][:, c0] * (1 - fc) + im[r0][:, c1] * fc
    bottom = im[r1][:, c0] * (1 - fc) + im[r1][:, c1] * fc
    return (top * (1 - fr) + bottom * fr).astype(np.float32)


def _sample_points(size: int, new_size: int, order: int) -> tuple[np.ndarray, ...]:
    """Input indices (and the weight of the second, for order 1) for each of new_size output pixels."""
    centre = (np.arange(new_size) + 0.5) * (size / new_size) - 0.5
    if order == 0:
        return (np.clip(np.round(centre), 0, size - 1).astype(int),)
    centre = np.clip(centre, 0, size - 1)
    low = np.floor(centre).astype(int)
    return low, np.minimum(low + 1, size - 1), (centre - low).astype(np.float32)


def oversample(images: Sequence[np.ndarray], crop_dims: Sequence[int]) -> np.ndarray:
    """The four corner crops, the centre crop and their mirrors of each (H, W, K) image:
    (10 N, crop_h, crop_w, K), ten per image, in that order."""
    shape = np.array(images[0].shape)
    crop = np.array(crop_dims)
    corners = [(i, j) for i in (0, shape[0] - crop[0]) for j in (0, shape[1] - crop[1])]
    centre = tuple((shape[:2] / 2.0 - crop / 2.0).astype(int))
    starts = corners + [centre]
    crops = np.empty((10 * len(images), crop[0], crop[1], shape[-1]), np.float32)
    for k, im in enumerate(images):
        views = [im[i:i + crop[0], j:j + crop[1], :] for i, j in starts]
        crops[10 * k:10 * k + 5] = views
        crops[10 * k + 5:10 * k + 10] = [view[:, ::-1, :] for view in views]
    return crops


# -- preprocessing ----------------------------------------------------------------------------------


class Transformer:
    """Turns images (H, W, K) into a net's inputs (K, H, W) and back, per input blob:

        preprocess: resize to the input's H x W -> transpose -> channel_swap -> * raw_scale -> - mean
                    -> * input_scale
        deprocess:  the inverse, in reverse order

    `inputs` maps input names to their blob shapes ({name: net.blobs[name].data.shape})."""

    def __init__(self, inputs: dict[str, Sequence[int]]) -> None:
        self.inputs = inputs
        self.transpose: dict[str, Sequence[int]] = {}
        self.channel_swap: dict[str, Sequence[int]] = {}
        self.raw_scale: dict[str, float] = {}
        self.mean: dict[str, np.ndarray] = {}
        self.input_scale: dict[str, float] = {}

    def _check_input(self, in_: str) -> None:
        if in_ not in self.inputs:
            raise ValueError(f"{in_} is not one of the net inputs: {list(self.inputs)}")

    def preprocess(self, in_: str, data: np.ndarray) -> np.ndarray:
        """Format an (H', W', K) image for input `in_`: float32, (K, H, W), as the steps above."""
        self._check_input(in_)
        caffe_in = np.array(data, np.float32)  # a copy: the steps below work in place, in float32
        in_dims = tuple(self.inputs[in_][2:])
        if caffe_in.shape[:2] != in_dims:
            caffe_in = resize_image(caffe_in, in_dims)
        if in_ in self.transpose:
            caffe_in = caffe_in.transpose(self.transpose[in_])
        if in_ in self.channel_swap:
            caffe_in = caffe_in[list(self.channel_swap[in_]), :, :]
        if in_ in self.raw_scale:
            caffe_in *= self.raw_scale[in_]
        if in_ in self.mean:
            caffe_in -= self.mean[in_]
        if in_ in self.input_scale:
            caffe_in *= self.input_scale[in_]
        return caffe_in

    def deprocess(self, in_: str, data: np.ndarray) -> np.ndarray:
        """Undo preprocess (all but the resize) on a net input (squeezed of its batch axis of 1)."""
        self._check_input(in_)
        decaf_in = np.array(data).squeeze()
        if in_ in self.input_scale:
            decaf_in /= self.input_scale[in_]
        if in_ in self.mean:
            decaf_in += self.mean[in_]
        if in_ in self.raw_scale:
            decaf_in /= self.raw_scale[in_]
        if in_ in self.channel_swap:
            decaf_in = decaf_in[np.argsort(self.channel_swap[in_]), :, :]
        if in_ in self.transpose:
            decaf_in = decaf_in.transpose(np.argsort(self.transpose[in_]))
        return decaf_in

    def set_transpose(self, in_: str, order: Sequence[int]) -> None:
        """The axis order taking an (H, W, K) image to the input's layout, e.g. (2, 0, 1)."""
        self._check_input(in_)
        if len(order) != len(self.inputs[in_]) - 1:
            raise ValueError("Transpose order needs to have the same number of dimensions as the input "
                             f"(found {len(order)}, the input has {len(self.inputs[in_]) - 1} per item)")
        self.transpose[in_] = order

    def set_channel_swap(self, in_: str, order: Sequence[int]) -> None:
        """The channel order after transposing, e.g. (2, 1, 0) for RGB -> BGR."""
        self._check_input(in_)
        if len(order) != self.inputs[in_][1]:
            raise ValueError("Channel swap needs to have the same number of dimensions as the input channels "
                             f"(found {len(order)}, the input has {self.inputs[in_][1]})")
        self.channel_swap[in_] = order

    def set_raw_scale(self, in_: str, scale: float) -> None:
        """Scale of the raw image: 255 for models trained on [0, 255] pixels (CaffeNet, AlexNet)."""
        self._check_input(in_)
        self.raw_scale[in_] = scale

    def set_mean(self, in_: str, mean: np.ndarray) -> None:
        """The mean to subtract: per channel (K,), or per element (K, H, W), resized to the input when
        its size differs."""
        self._check_input(in_)
        mean = np.asarray(mean)
        shape = tuple(self.inputs[in_][1:])
        if mean.ndim == 1:
            if mean.shape[0] != shape[0]:
                raise ValueError(f"Mean channels incompatible with input: {mean.shape[0]} for {shape[0]}")
            mean = mean[:, None, None]
        else:
            dims = (1, *mean.shape) if mean.ndim == 2 else mean.shape
            if len(dims) != 3:
                raise ValueError(f"Mean shape invalid: {list(mean.shape)}, expected (K,) or (K, H, W)")
            if dims != shape:
                mean = resize_image(mean.reshape(dims).transpose(1, 2, 0), shape[1:]).transpose(2, 0, 1)
        self.mean[in_] = mean

    def set_input_scale(self, in_: str, scale: float) -> None:
        """Scale applied last, after the mean is subtracted (raw_scale comes before)."""
        self._check_input(in_)
        self.input_scale[in_] = scale
