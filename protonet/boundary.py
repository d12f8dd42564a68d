"""Decision boundaries of a trained classifier with 2-D inputs: the class it picks on a grid over its data.

The class scores are the first bottom of each Accuracy layer (one boundary per Accuracy layer, named by
it, so a net that trains several classifiers side by side shows each). The grid goes through the layers that compute
those scores, with the data layer turned into an Input (the data layer's transform applied to the grid
as to its records) and the trained parameters shared by layer name; the class at a point is the argmax
of its scores (for a single score, score > 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ConfigError
from .layers.base import Layer
from .net import Net
from .proto import pb

MARGIN = 0.1  # the grid reaches this fraction of the data's extent beyond it on each side


@dataclass
class Boundary:
    """The classes a net picks on a grid (classes[i, j] at (xs[j], ys[i])), and the records it was shown."""

    label: str
    points: np.ndarray   # (N, 2) records
    labels: np.ndarray   # (N,) their classes
    xs: np.ndarray
    ys: np.ndarray
    classes: np.ndarray  # (len(ys), len(xs))
    accuracy: float      # the share of the records the net classifies right


def boundaries(net: Net, label: str = "", resolution: int = 150) -> list[Boundary]:
    """A Boundary per Accuracy layer of `net`, over the records of its data layer (which must be 2-D)."""
    index, data = _data_layer(net)
    scores = {layer.name: net.bottom_names[i][0] for i, layer in enumerate(net.layers) if layer.type == "Accuracy"}
    if not scores:
        raise ConfigError(f"net '{net.name}' has no Accuracy layer, so no blob is known to hold class scores",
                          hint="add an Accuracy layer over the scores (the boundary is drawn for its first bottom)")
    points = data.records.images.reshape(data.records.num, 2).astype(np.float64)
    labels = np.asarray(data.records.labels)
    low, high = points.min(axis=0), points.max(axis=0)
    pad = MARGIN * np.maximum(high - low, 1e-6)
    xs, ys = (np.linspace(low[k] - pad[k], high[k] + pad[k], resolution) for k in range(2))
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    scorer = Net(_scoring_net(net, index, list(scores.values())), phase="TEST", dtype=net.ctx.dtype, seed=0)
    scorer.share_with(net)

    def classes(x: np.ndarray) -> dict[str, np.ndarray]:
        records = x.reshape(len(x), *data.records.images.shape[1:]).astype(data.records.images.dtype)
        inputs = np.empty((len(x), *data.transformer.output_shape), net.ctx.dtype)
        data.transformer.apply(records, inputs, np.random.default_rng(0))
        scorer.forward(**{net.top_names[index][0]: inputs})
        values = {name: scorer.blobs[blob].data.reshape(len(x), -1) for name, blob in scores.items()}
        return {name: v.argmax(axis=1) if v.shape[1] > 1 else (v[:, 0] > 0).astype(int) for name, v in values.items()}

    on_grid, on_points = classes(grid), classes(points)
    return [Boundary(f"{label}: {name}" if label else name, points, labels, xs, ys,
                     on_grid[name].reshape(resolution, resolution), float(np.mean(on_points[name] == labels)))
            for name in scores]


def _data_layer(net: Net) -> tuple[int, Layer]:
    """The index and layer of the net's data layer that holds its records in memory."""
    for i, layer in enumerate(net.layers):
        records = getattr(layer, "records", None)
        if records is not None:
            if int(np.prod(records.images.shape[1:])) != 2:
                raise ConfigError(f"a decision boundary needs 2-D inputs, but layer '{layer.name}' gives records "
                                  f"of shape {list(records.images.shape[1:])}", hint="use it on 2-D problems")
            return i, layer
    raise ConfigError(f"net '{net.name}' has no Data layer with records to draw a boundary over",
                      hint="the boundary is drawn for nets fed by a Data layer (e.g. with synthetic_param)")


def _scoring_net(net: Net, data_index: int, scores: list[str]) -> pb.NetParameter:
    """The layers of `net` that compute the `scores` blobs, fed by an Input in place of its data layer."""
    needed, kept = set(scores), []
    for i in reversed(range(len(net.layers))):
        if needed & set(net.top_names[i]):
            kept.append(i)
            needed |= set(net.bottom_names[i])
    out = pb.NetParameter(name=net.name)
    for i in reversed(kept):
        if i == data_index:
            top = net.top_names[i][0]
            shape = (1, *net.blobs[top].shape[1:])  # reshaped to each batch it is given
            out.layer.add(name=net.layers[i].name, type="Input", top=[top]).input_param.shape.add(dim=shape)
        else:
            out.layer.add().CopyFrom(net.layers[i].param)
    return out
