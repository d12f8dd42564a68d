"""The one numerical gradient checker, for a layer (every layer test) and for a whole net.

Both compare back-propagated gradients with central differences (f(x+h) - f(x-h)) / 2h, one
element x at a time (`central_difference`).

A layer (`check_gradient`, after Caffe's GradientChecker): the objective is f = sum_k <w_k, top_k>
with fixed random weights w_k, so top_k.diff = w_k; every bottom and parameter element must meet
|analytic - numeric| <= threshold * max(|analytic|, |numeric|, 1).

A net (`check_net`, `protonet gradcheck`): the objective is the net's loss on one fixed batch (the
generator and the data layers' read positions are restored before every forward pass, so dropout and
the data repeat); for each learnable parameter, up to `samples` elements are checked and the largest
relative error |analytic - numeric| / max(|analytic|, |numeric|, floor) is reported. Each element's
error is the smaller of those at two steps, h and h/10: a kink of ReLU or max pooling crossed by one
step is rarely crossed by both, while a wrong gradient is wrong at every step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from google.protobuf import text_format

from .blob import Blob
from .errors import ConfigError, did_you_mean
from .layers.base import Layer, LayerContext
from .layers.registry import layer_class
from .net import Net
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
        for idx in range(x.size):
            numeric = central_difference(objective, x, idx, step)
            got = grad.reshape(-1)[idx]
            scale = max(abs(got), abs(numeric), 1.0)
            assert abs(got - numeric) <= threshold * scale, (
                f"{layer.type} '{layer.name}': {name}[{np.unravel_index(idx, x.shape)}] analytic {got:.6g} "
                f"vs numeric {numeric:.6g}")


def central_difference(objective: Callable[[], float], x: np.ndarray, index: int, step: float) -> float:
    """(f(x + h e_i) - f(x - h e_i)) / 2h for flat element i of the array `x`, which is left as it was."""
    flat = x.reshape(-1)
    saved = flat[index]
    flat[index] = saved + step
    plus = objective()
    flat[index] = saved - step
    minus = objective()
    flat[index] = saved
    return (plus - minus) / (2 * step)


@dataclass
class ParamCheck:
    """How the gradient of one learnable parameter compares: the largest relative error found."""

    layer: str
    index: int
    shape: tuple[int, ...]
    checked: int         # elements compared
    max_gradient: float  # largest |analytic| among them
    max_error: float     # largest |analytic - numeric| / max(|analytic|, |numeric|, floor)


def check_net(net: Net, layers: Sequence[str] = (), *, step: float = 1e-5, samples: int = 20,
              floor: float = 1e-8, seed: int = 0) -> list[ParamCheck]:
    """Back-propagated vs numerical gradients of the loss of `net` (float64 advised) for each learnable
    parameter of `layers` (default: all): `samples` elements per parameter (all when fewer), drawn by
    `seed`, each at steps `step` and `step` / 10 (see the module doc). Gradients smaller than `floor`
    count as zero."""
    chosen = [lp for lp in net.learnable if not layers or lp.layer in layers]
    _check_layer_names(net, layers)
    if not any(w for weights in net.loss_weights for w in weights):
        raise ConfigError(f"net '{net.name}' has no loss: there is no gradient to check",
                          hint="give a train_val net with its loss layers, not a deploy net")
    rewind = _rewinder(net)

    def objective() -> float:
        rewind()
        net.forward()
        return net.loss

    rewind()
    net.clear_param_diffs()
    net.forward_backward()
    analytic = [lp.blob.diff.copy() for lp in chosen]
    rng = np.random.default_rng(seed)
    results = []
    for lp, grad in zip(chosen, analytic):
        x = lp.blob.data
        picked = np.sort(rng.choice(x.size, min(x.size, samples), replace=False))
        got = grad.reshape(-1)[picked]
        errors = []
        for h in (step, step / 10):
            numeric = np.array([central_difference(objective, x, int(i), h) for i in picked])
            errors.append(np.abs(got - numeric) / np.maximum(np.maximum(np.abs(got), np.abs(numeric)), floor))
        error = np.minimum(*errors)
        results.append(ParamCheck(lp.layer, lp.index, tuple(x.shape), len(picked),
                                  float(np.abs(got).max(initial=0)), float(error.max(initial=0))))
    return results


def _rewinder(net: Net) -> Callable[[], None]:
    """A function that puts the net's generator and data layers back where they stand now, so that
    the next forward pass reads the same batch and draws the same random numbers."""
    from .solvers.base import readers

    rng_state = net.ctx.rng.bit_generator.state
    cursors = [(layer, layer.cursor()) for layer in readers(net)]

    def rewind() -> None:
        net.ctx.rng.bit_generator.state = rng_state
        for layer, (position, epoch) in cursors:
            layer.seek(position, epoch)

    return rewind


def _check_layer_names(net: Net, layers: Sequence[str]) -> None:
    with_params = dict.fromkeys(lp.layer for lp in net.learnable)
    for name in layers:
        if name not in with_params:
            known = "has no learnable parameters" if name in net.layer_dict else "is not in the net"
            raise ConfigError(f"layer '{name}' {known}",
                              hint=did_you_mean(name, with_params) or f"layers with parameters: "
                                                                      f"{', '.join(with_params)}")


def _blob(x: np.ndarray, dtype: np.dtype, channels_last: bool = False) -> Blob:
    x = np.asarray(x)
    blob = Blob(x.shape, dtype)
    if channels_last:
        blob.use_channels_last()
    blob.data = x
    return blob
