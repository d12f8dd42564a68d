"""Prediction: inputs (image files, .npy, IDX) prepared as the net's TEST data layer prepared its records,
a forward pass in batches, and the top-k classes with their probabilities.

An image is decoded as the input blob's channels ask (1: grey; 3: Caffe's BGR order), resized to the
input's height and width (or, when model.yaml gives `resize: [H, W]`, to that size and then centre-cropped
to the input's, as Caffe's TEST crop cut its records), then transformed in Caffe's order: subtract the
mean (mean_value per channel, or a mean_file image, centre-cropped to the input), multiply by `scale`.
A zoo entry's transform is its model.yaml `transform` (written by `protonet deploy`), else the
TEST data layer's transform_param of its train_val net. An .npy array ((H, W), (C, H, W) or (N, C, H, W))
or an IDX file ((N, H, W) or (N, C, H, W)) holds raw pixel values, transformed the same way.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from . import config
from .data.idx import read_idx
from .data.images import read_image
from .data.transform import read_mean_file
from .errors import DataError, WeightsError
from .io import read_regular
from .net import Net
from .net_rules import filter_net
from .proto import pb
from .weights import check_npy_header
from .zoo import PREFIX, entry, entry_weights, read_meta, resolve_weights

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass
class Predictor:
    net: Net
    input: str
    labels: list[str] | None = None
    transform: pb.TransformationParameter = field(default_factory=pb.TransformationParameter)
    base_dir: Path = field(default_factory=Path.cwd)
    resize: tuple[int, int] | None = None  # (H, W) of an image before its centre crop to the input's size

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.net.blobs[self.input].shape[1:]

    def read(self, path: str | Path) -> np.ndarray:
        """The records in file `path`, raw, as (N, C, H, W) float32 of the input's shape."""
        path = Path(path)
        channels, height, width = self.input_shape
        if path.suffix.lower() in IMAGE_SUFFIXES:
            if channels not in (1, 3):
                raise DataError(f"the net's input has {channels} channels; images give 1 or 3", file=str(path))
            size = self.resize or (height, width)
            image = read_image(path, color=channels == 3, size=size, source=str(path), line=0)
            top, left = (size[0] - height) // 2, (size[1] - width) // 2
            return image[None, :, top:top + height, left:left + width].astype(np.float32)
        array = _read_array(path)
        found = list(array.shape)
        array = array.reshape(1, 1, *array.shape) if array.ndim == 2 else array
        array = array[None] if array.ndim == 3 and array.shape == (channels, height, width) else array
        array = array[:, None] if array.ndim == 3 else array
        if array.ndim != 4 or array.shape[1:] != (channels, height, width):
            raise DataError(f"holds an array of shape {found}; the net takes records of shape "
                            f"{[channels, height, width]}", file=str(path),
                            hint="give (H, W), (C, H, W) or (N, C, H, W) arrays of the input's size")
        return array.astype(np.float32)

    def prepare(self, records: np.ndarray) -> np.ndarray:
        """(records - mean) * scale, with the mean centre-cropped to the records' size."""
        out = records.astype(np.float32, copy=True)
        mean = self._mean()
        if mean is not None:
            out -= mean
        if self.transform.scale != 1:
            out *= np.float32(self.transform.scale)
        return out

    def _mean(self) -> np.ndarray | None:
        channels, height, width = self.input_shape
        if self.transform.mean_value:
            values = np.array(self.transform.mean_value, np.float32)
            if values.size not in (1, channels):
                raise DataError(f"{values.size} mean_value entries for inputs of {channels} channels",
                                hint="give one value, or one per channel")
            return np.broadcast_to(values[:, None, None], (channels, 1, 1))
        if self.transform.HasField("mean_file"):
            mean = read_mean_file(self.transform.mean_file, self.base_dir).astype(np.float32)
            mean = mean.reshape(mean.shape[-3:])
            top, left = (mean.shape[1] - height) // 2, (mean.shape[2] - width) // 2
            if top < 0 or left < 0 or mean.shape[0] != channels:
                raise DataError(f"mean of shape {list(mean.shape)} does not fit inputs of shape "
                                f"{list(self.input_shape)}", file=self.transform.mean_file)
            return mean[:, top:top + height, left:left + width]
        return None

    def probabilities(self, batch: np.ndarray, size: int = 256) -> np.ndarray:
        """Class probabilities (N, K) of prepared records, in forward passes of at most `size` records; the
        net's first output, through a softmax unless it is one already."""
        outputs = []
        for start in range(0, len(batch), size):
            part = batch[start:start + size]
            self.net.blobs[self.input].reshape(*part.shape)
            self.net.reshape()
            result = self.net.forward(**{self.input: part})
            outputs.append(result[self.net.outputs[0]].reshape(len(part), -1).astype(np.float64))
        scores = np.concatenate(outputs) if outputs else np.zeros((0, 0))
        if len(scores) and not (np.all(scores >= 0) and np.allclose(scores.sum(1), 1, atol=1e-4)):
            scores = np.exp(scores - scores.max(1, keepdims=True))
            scores /= scores.sum(1, keepdims=True)
        return scores


def load_predictor(model: str, weights: str | None = None) -> Predictor:
    """A Predictor for a zoo model (`zoo:NAME`) or a deploy net with `weights`."""
    if model.startswith(PREFIX):
        folder, _ = entry(model[len(PREFIX):])
        return entry_predictor(folder, resolve_weights(weights) if weights else None)
    return _predictor(Path(model), resolve_weights(weights or model))


def entry_predictor(folder: Path, weights: str | None = None) -> Predictor:
    """A Predictor for the zoo entry in `folder`: its deploy net, weights (or `weights`), labels and transform
    (model.yaml `transform` and `resize`, else the TEST data layer's transform_param of its train_val net)."""
    meta = read_meta(folder)
    labels = None
    if meta.get("labels"):
        labels = (folder / meta["labels"]).read_text(encoding="utf-8").splitlines()
    transform = pb.TransformationParameter()
    if isinstance(meta.get("transform"), dict):
        config.parse(yaml.safe_dump(meta["transform"]), transform, syntax="yaml", file=str(folder / "model.yaml"))
    elif meta.get("train_val"):
        transform = test_transform(folder / meta["train_val"])
    resize = meta.get("resize")
    return _predictor(folder / meta["deploy"], weights or entry_weights(folder, meta),
                      labels=labels, transform=transform, base_dir=folder,
                      resize=tuple(resize) if isinstance(resize, list) and len(resize) == 2 else None)


def _predictor(deploy: Path, weights: str, **fields: object) -> Predictor:
    net = Net(deploy, phase="TEST")
    fit_weights(net, weights)
    inputs = [lp.top[0] for lp in net.param.layer if lp.type == "Input"]
    if len(inputs) != 1 or len(net.blobs[inputs[0]].shape) != 4:
        raise DataError(f"predict takes nets with one 4-axis input; this one has {len(inputs)} Input layers",
                        file=str(deploy))
    return Predictor(net, inputs[0], **fields)


def net_at_test(model: str | Path) -> pb.NetParameter:
    """The TEST-phase layers of a net file."""
    return filter_net(config.load_net(model), pb.NetState(phase=pb.TEST))


def test_transform(train_val: str | Path) -> pb.TransformationParameter:
    """The transform_param of the first TEST-phase data layer of a train_val net (empty without one)."""
    found = [lp.transform_param for lp in net_at_test(train_val).layer if lp.HasField("transform_param")]
    return found[0] if found else pb.TransformationParameter()


def fit_weights(net: Net, weights: str | Path) -> None:
    """Load `weights` into `net`, which must find parameters for every layer that has some."""
    try:
        copied = net.copy_from(weights)
    except WeightsError as exc:
        exc.hint = "the weights were trained for another net"
        raise exc.located() from None
    missing = [name for name in net.params if name not in copied]
    if missing:
        raise WeightsError(f"no parameters for layer{'s' * (len(missing) > 1)} {', '.join(missing[:5])}"
                           f"{' ...' if len(missing) > 5 else ''} of the net", file=str(weights),
                           hint="the weights were trained for another net (layers are matched by name)")




def top_k(probabilities: np.ndarray, k: int, labels: list[str] | None) -> Iterator[list[dict]]:
    """Per record, the k best classes, best first: {"index", "label", "prob"}."""
    for row in probabilities:
        best = np.argsort(-row, kind="stable")[:k]
        yield [{"index": int(i), "label": labels[i] if labels and i < len(labels) else str(int(i)),
                "prob": float(row[i])} for i in best]


def _read_array(path: Path) -> np.ndarray:
    if path.suffix.lower() == ".npy":
        stream = io.BytesIO(read_regular(path))
        check_npy_header(stream, "input", str(path), error=DataError)
        stream.seek(0)
        return np.load(stream, allow_pickle=False)
    if path.name.endswith(("-ubyte", "-ubyte.gz", ".idx", ".idx.gz")):
        return read_idx(path)
    raise DataError("is not an input predict reads", file=str(path),
                    hint=f"give image files ({', '.join(IMAGE_SUFFIXES)}), .npy arrays or IDX files")
