"""pycaffe's Classifier and Detector: a deploy net with a Transformer for its first input."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..proto import pb
from . import io
from .net import Net


class _ImageNet(Net):
    """A TEST-phase net whose first input is fed images through `self.transformer`: transpose (2, 0, 1),
    then the mean, scales and channel swap given."""

    def __init__(self, model_file: str | Path, pretrained_file: str | Path, mean: np.ndarray | None,
                 input_scale: float | None, raw_scale: float | None, channel_swap: Sequence[int] | None) -> None:
        super().__init__(model_file, pb.TEST, weights=pretrained_file)
        in_ = self.inputs[0]
        self.transformer = io.Transformer({in_: self.blobs[in_].data.shape})
        self.transformer.set_transpose(in_, (2, 0, 1))
        for setting, value in (("mean", mean), ("input_scale", input_scale), ("raw_scale", raw_scale),
                               ("channel_swap", channel_swap)):
            if value is not None:
                getattr(self.transformer, f"set_{setting}")(in_, value)

    def _classify(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """The first output for (H, W, K) images, preprocessed and run a batch at a time."""
        in_ = self.inputs[0]
        caffe_in = np.stack([self.transformer.preprocess(in_, image) for image in images])
        return self.forward_all(**{in_: caffe_in})[self.outputs[0]]


class Classifier(_ImageNet):
    """Class probabilities of images: resized to `image_dims` (default: the input size), then the net's
    input size cropped from the centre, or from the centre, corners and their mirrors (oversample)."""

    def __init__(self, model_file: str | Path, pretrained_file: str | Path, image_dims: Sequence[int] | None = None,
                 mean: np.ndarray | None = None, input_scale: float | None = None, raw_scale: float | None = None,
                 channel_swap: Sequence[int] | None = None) -> None:
        super().__init__(model_file, pretrained_file, mean, input_scale, raw_scale, channel_swap)
        self.crop_dims = np.array(self.blobs[self.inputs[0]].data.shape[2:])
        self.image_dims = self.crop_dims if image_dims is None or not len(image_dims) else image_dims

    def predict(self, inputs: Sequence[np.ndarray], oversample: bool = True) -> np.ndarray:
        """(N, classes) predictions for N (H, W, K) images; with `oversample`, the mean over ten crops."""
        resized = np.stack([io.resize_image(image, self.image_dims) for image in inputs])
        if oversample:
            crops = io.oversample(resized, self.crop_dims)
        else:
            start = (np.array(self.image_dims) / 2.0 - self.crop_dims / 2.0).astype(int)
            stop = start + self.crop_dims
            crops = resized[:, start[0]:stop[0], start[1]:stop[1], :]
        predictions = self._classify(crops)
        if oversample:
            predictions = predictions.reshape((len(predictions) // 10, 10, -1)).mean(1)
        return predictions


class Detector(_ImageNet):
    """Predictions for windows (ymin, xmin, ymax, xmax) of images, each warped to the input size; with
    `context_pad`, a border of that many input pixels is context around the window (as in R-CNN)."""

    def __init__(self, model_file: str | Path, pretrained_file: str | Path, mean: np.ndarray | None = None,
                 input_scale: float | None = None, raw_scale: float | None = None,
                 channel_swap: Sequence[int] | None = None, context_pad: int | None = None) -> None:
        super().__init__(model_file, pretrained_file, mean, input_scale, raw_scale, channel_swap)
        self.configure_crop(context_pad)

    def detect_windows(self, images_windows: Iterable[tuple[str, Sequence[Sequence[int]]]]) -> list[dict]:
        """[{'window', 'prediction', 'filename'}] for each window of each (image file, windows) pair."""
        pairs, crops = [], []
        for name, windows in images_windows:
            image = io.load_image(name)  # once per image, however many windows it has
            for window in windows:
                pairs.append((name, window))
                crops.append(self.crop(image, np.asarray(window)))
        predictions = self._classify(crops)  # preprocess warps each crop to the input size
        return [{"window": window, "prediction": predictions[k], "filename": name}
                for k, (name, window) in enumerate(pairs)]

    def detect_selective_search(self, image_fnames: Sequence[str]) -> list[dict]:
        raise NotImplementedError("detect_selective_search needs the MATLAB selective-search tool, which "
                                  "protonet does not run; compute windows and call detect_windows")

    def crop(self, im: np.ndarray, window: np.ndarray) -> np.ndarray:
        """The window of `im`; with context_pad, the window grown so that a context_pad border of the
        input is context, clipped to the image and placed on the mean where it runs outside."""
        if not self.context_pad:
            return im[window[0]:window[2], window[1]:window[3]]
        size = self.blobs[self.inputs[0]].width  # square inputs, as in Caffe
        scale = size / (1.0 * size - 2 * self.context_pad)
        half = (window[2] - window[0] + 1) / 2.0, (window[3] - window[1] + 1) / 2.0
        centre = window[0] + half[0], window[1] + half[1]
        box = np.round(np.tile(centre, 2) + scale * np.array((-half[0], -half[1], half[0], half[1])))
        scale_h, scale_w = size / (box[2] - box[0] + 1), size / (box[3] - box[1] + 1)
        pad_y, pad_x = round(max(0, -box[0]) * scale_h), round(max(0, -box[1]) * scale_w)
        im_h, im_w = im.shape[:2]
        box = np.clip(box, 0.0, [im_h, im_w, im_h, im_w]).astype(int)
        crop_h = min(round((box[2] - box[0] + 1) * scale_h), size - pad_y)
        crop_w = min(round((box[3] - box[1] + 1) * scale_w), size - pad_x)
        out = np.ones(self.crop_dims, np.float32) * self.crop_mean
        out[pad_y:pad_y + crop_h, pad_x:pad_x + crop_w] = io.resize_image(im[box[0]:box[2], box[1]:box[3]],
                                                                          (crop_h, crop_w))
        return out

    def configure_crop(self, context_pad: int | None) -> None:
        """The crop size (H, W, K) and, with context_pad, the mean in image space to pad crops with."""
        in_ = self.inputs[0]
        order = np.argsort(self.transformer.transpose[in_])
        self.crop_dims = np.array(self.blobs[in_].data.shape[1:])[order]
        self.context_pad = context_pad
        if not context_pad:
            return
        mean = self.transformer.mean.get(in_)
        if mean is None:
            self.crop_mean = np.zeros(self.crop_dims, np.float32)
            return
        crop_mean = np.broadcast_to(mean, self.blobs[in_].data.shape[1:]).transpose(order)
        swap = self.transformer.channel_swap.get(in_)
        if swap is not None:
            crop_mean = crop_mean[:, :, np.argsort(swap)]
        raw_scale = self.transformer.raw_scale.get(in_)
        self.crop_mean = crop_mean / raw_scale if raw_scale is not None else np.array(crop_mean)
