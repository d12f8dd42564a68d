"""The one numerical gradient checker every layer test uses (after Caffe's GradientChecker).

The objective is f = sum_k <w_k, top_k> with fixed random weights w_k, so top_k.diff = w_k.
Each bottom and parameter element x is perturbed by +-h and the central difference
(f(x+h) - f(x-h)) / 2h is compared with the analytic gradient:
|analytic - numeric| <= threshold * max(|analytic|, |numeric|, 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from google.protobuf import text_format

from .blob import Blob
from .layers.base import Layer, LayerContext
from .layers.registry import layer_class
from .proto import pb


def make_layer(config: str | pb.LayerParameter, *, phase: int = pb.TRAIN, dtype: type = np.float64,
               seed: int = 1701) -> Layer:
    """Build a layer from prototxt text such as 'type: "ReLU" relu_param { negative_slope: 0.1 }'."""
    param = text_format.Parse(config, pb.LayerParameter()) if isinstance(config, str) else config
    if not param.name:
        param.name = param.type.lower() or "layer"
    ctx = LayerContext(phase=phase, dtype=np.dtype(dtype), rng=np.random.default_rng(seed))
    return layer_class(param.type, param.name)(param, ctx)


def run_layer(layer: Layer, inputs: Sequence[np.ndarray], num_tops: int = 1, *, in_place: bool = False,
              channels_last: bool | tuple[bool, bool] = False) -> tuple[list[Blob], list[Blob]]:
    """Set up `layer` on copies of `inputs`, run forward, return (bottom, top) blobs. `channels_last` (for
    all, or (for bottoms, for tops)) lays 4-D blobs out channels-last, for layers that support it."""
    bottom_cl, top_cl = channels_last if isinstance(channels_last, tuple) else (channels_last, channels_last)
    bottom = [_blob(x, layer.ctx.dtype, bottom_cl) for x in inputs]
    top = [bottom[0]] if in_place else [Blob((), layer.ctx.dtype) for _ in range(num_tops)]
    if not in_place:
        for t in top:
            t.channels_last = top_cl  # taken up when the layer gives the top its shape
    layer.setup(bottom, top)
    layer.reshape(bottom, top)
    layer.forward(bottom, top)
    return bottom, top


def check_gradient(config: str | pb.LayerParameter | Layer, inputs: Sequence[np.ndarray], *,
                   num_tops: int = 1, check_bottoms: Sequence[int] | None = None, check_params: bool = True,
                   in_place: bool = False, step: float = 1e-3, threshold: float = 1e-3,
                   phase: int = pb.TRAIN, seed: int = 1701,
                   channels_last: bool | tuple[bool, bool] = False) -> None:
    """Assert the analytic gradients of a layer match central differences (float64); `channels_last` as
    in run_layer."""
    layer = config if isinstance(config, Layer) else make_layer(config, phase=phase, seed=seed)
    check_bottoms = list(range(len(inputs))) if check_bottoms is None else list(check_bottoms)
    originals = [np.array(x, dtype=layer.ctx.dtype) for x in inputs]
    bottom, top = run_layer(layer, originals, num_tops, in_place=in_place, channels_last=channels_last)
    weights = [np.random.default_rng(seed + k).uniform(-1, 1, t.shape) for k, t in enumerate(top)]
    rng_state = layer.ctx.rng.bit_generator.state

    def objective() -> float:
        for b, x in zip(bottom, originals):
            b.reshape(x.shape)
            b.data = x
        layer.ctx.rng.bit_generator.state = rng_state
        layer.reshape(bottom, top)
        layer.forward(bottom, top)
        return float(sum((w * t.data).sum() for w, t in zip(weights, top)))

    objective()
    for p in layer.blobs:
        p.diff.fill(0)
    for w, t in zip(weights, top):
        t.diff = w
    propagate = [i in check_bottoms for i in range(len(bottom))]
    layer.backward(top, propagate, bottom)
    analytic = [bottom[i].diff.copy() for i in check_bottoms]
    targets = [originals[i] for i in check_bottoms]
    names = [f"bottom {i}" for i in check_bottoms]
    if check_params:
        analytic += [p.diff.copy() for p in layer.blobs]
        targets += [p.data for p in layer.blobs]
        names += [f"param {k}" for k in range(len(layer.blobs))]
    for name, grad, x in zip(names, analytic, targets):
        flat = x.reshape(-1)
        for idx in range(flat.size):
            saved = flat[idx]
            flat[idx] = saved + step
            plus = objective()
            flat[idx] = saved - step
            minus = objective()
            flat[idx] = saved
            numeric = (plus - minus) / (2 * step)
            got = grad.reshape(-1)[idx]
            scale = max(abs(got), abs(numeric), 1.0)
            assert abs(got - numeric) <= threshold * scale, (
                f"{layer.type} '{layer.name}': {name}[{np.unravel_index(idx, x.shape)}] analytic {got:.6g} "
                f"vs numeric {numeric:.6g}")


def _blob(x: np.ndarray, dtype: np.dtype, channels_last: bool = False) -> Blob:
    x = np.asarray(x)
    blob = Blob(x.shape, dtype)
    if channels_last:
        blob.use_channels_last()
    blob.data = x
    return blob
