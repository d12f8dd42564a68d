"""The inference graph rewritten: BatchNorm and Scale folded into the Convolution or InnerProduct before
them, Dropout and Split layers removed, and ReLU, Sigmoid and TanH made to work in place.

Folding. A Convolution or InnerProduct y = W x + b followed by Caffe's BatchNorm (stored statistics
mean = blobs[0] / s, var = blobs[1] / s with s = blobs[2][0]) and a Scale (gamma, beta) computes, per
output channel c,

    z_c = gamma_c (y_c - mean_c) / sqrt(var_c + eps) + beta_c = a_c (W_c x) + a_c (b_c - mean_c) + beta_c,
    a_c = gamma_c / sqrt(var_c + eps),

so W'_c = a_c W_c and b'_c = a_c (b_c - mean_c) + beta_c give the same output in one layer (BatchNorm
alone: gamma = 1, beta = 0; Scale alone: mean = 0, var + eps = 1). A layer is folded only when it is the
one reader of the producer's output: any other reader would see the folded values.

Blob names stay those of the original net: a folded layer's top becomes its producer's top, and an
identity layer (Dropout at TEST, Split) is bypassed by renaming its tops to its bottom in the layers
after it, so the net's outputs keep their names. The arithmetic is done in float64.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

from .proto import pb

if TYPE_CHECKING:
    from .net import Net

Weights = dict[str, list[np.ndarray]]
PRODUCERS = ("Convolution", "InnerProduct")
FOLDABLE = ("BatchNorm", "Scale")
IDENTITY_AT_TEST = ("Dropout", "Split")
ELEMENTWISE = ("ReLU", "Sigmoid", "TanH")


def optimize(net: pb.NetParameter, weights: Weights) -> tuple[pb.NetParameter, Weights, Counter]:
    """The rewritten deploy net, its weights, and a count of each rewrite done (e.g. 'folded BatchNorm').

    `net` is a deploy net of one phase (no include/exclude rules left to apply), `weights` its parameter
    arrays by layer name, shaped as the layers hold them (Net.params). Neither is changed.
    """
    layers = [_copy(lp) for lp in net.layer]
    weights = {name: [np.array(a) for a in arrays] for name, arrays in weights.items()}
    done: Counter = Counter()
    for rewrite in (_bypass_identities, _fold_normalisation, _work_in_place):
        rewrite(layers, weights, done)
    out = pb.NetParameter()
    out.CopyFrom(net)
    del out.layer[:]
    out.layer.extend(layers)
    return out, {lp.name: weights[lp.name] for lp in layers if lp.name in weights}, done


def _copy(layer: pb.LayerParameter) -> pb.LayerParameter:
    copy = pb.LayerParameter()
    copy.CopyFrom(layer)
    return copy


# ------------------------------------------------------------------ the graph


def outputs(layers: list[pb.LayerParameter]) -> set[str]:
    """Blobs whose last value no layer reads: the net's outputs."""
    unread: set[str] = set()
    for lp in layers:
        unread -= set(lp.bottom)
        unread |= set(lp.top)
    return unread


def producer(layers: list[pb.LayerParameter], i: int, blob: str) -> int | None:
    """The index of the last layer before `i` that writes `blob`."""
    return next((j for j in range(i - 1, -1, -1) if blob in layers[j].top), None)


def readers(layers: list[pb.LayerParameter], p: int, blob: str) -> list[int]:
    """The layers that read the value layer `p` writes to `blob`: up to (and with) the next writer."""
    found = []
    for j in range(p + 1, len(layers)):
        if blob in layers[j].bottom:
            found.append(j)
        if blob in layers[j].top:
            break
    return found


def mentioned_after(layers: list[pb.LayerParameter], i: int, blob: str) -> bool:
    return any(blob in lp.bottom or blob in lp.top for lp in layers[i + 1:])


def written_after(layers: list[pb.LayerParameter], i: int, blob: str) -> bool:
    return any(blob in lp.top for lp in layers[i + 1:])


def rename_after(layers: list[pb.LayerParameter], i: int, old: str, new: str) -> None:
    """Every `old` in the bottoms and tops of the layers after `i` becomes `new`."""
    for lp in layers[i + 1:]:
        for names in (lp.bottom, lp.top):
            for k, name in enumerate(names):
                if name == old:
                    names[k] = new


# ------------------------------------------------------------------ the rewrites


def _bypass_identities(layers: list[pb.LayerParameter], weights: Weights, done: Counter) -> None:
    """Drop Dropout and Split layers; their tops are renamed to their bottom in the layers after them.

    Safe when no top is a net output, the bottom is not written again, and (for fan-out) no top is
    changed in place later, since all of them become one blob."""
    i = 0
    while i < len(layers):
        lp = layers[i]
        if lp.type in IDENTITY_AT_TEST and len(lp.bottom) == 1 and _can_bypass(layers, i):
            for top in lp.top:
                rename_after(layers, i, top, lp.bottom[0])
            del layers[i]
            done[f"removed {lp.type}"] += 1
            continue
        i += 1


def _can_bypass(layers: list[pb.LayerParameter], i: int) -> bool:
    lp, (bottom,) = layers[i], layers[i].bottom
    tops = [t for t in lp.top if t != bottom]
    if not tops:
        return True  # in place
    if set(tops) & outputs(layers) or written_after(layers, i, bottom):
        return False
    shared = len(tops) > 1 or any(bottom in later.bottom for later in layers[i + 1:])
    return not (shared and any(written_after(layers, i, t) for t in tops))


def _fold_normalisation(layers: list[pb.LayerParameter], weights: Weights, done: Counter) -> None:
    i = 0
    while i < len(layers):
        lp = layers[i]
        p = producer(layers, i, lp.bottom[0]) if lp.type in FOLDABLE and len(lp.bottom) == 1 else None
        if p is not None and _can_fold(layers, weights, p, i):
            _fold(layers[p], weights, lp, weights.get(lp.name, []))
            layers[p].top[0] = lp.top[0]
            del layers[i]
            weights.pop(lp.name, None)
            done[f"folded {lp.type}"] += 1
            continue
        i += 1


def _can_fold(layers: list[pb.LayerParameter], weights: Weights, p: int, i: int) -> bool:
    source, layer = layers[p], layers[i]
    if source.type not in PRODUCERS or len(source.top) != 1 or source.name not in weights:
        return False
    if source.type == "InnerProduct" and (source.inner_product_param.transpose
                                          or source.inner_product_param.axis != 1):
        return False
    if layer.type == "BatchNorm" and layer.batch_norm_param.HasField("use_global_stats") \
            and not layer.batch_norm_param.use_global_stats:
        return False  # batch statistics: not a fixed affine map
    if layer.type == "Scale" and (layer.scale_param.axis != 1 or layer.scale_param.num_axes != 1):
        return False
    channels = weights[source.name][0].shape[0]
    if any(a.size != channels for a in weights.get(layer.name, [])[:2]):
        return False
    return readers(layers, p, source.top[0]) == [i]


def _fold(source: pb.LayerParameter, weights: Weights, layer: pb.LayerParameter, blobs: list[np.ndarray]) -> None:
    """Fold `layer` (BatchNorm or Scale, parameters `blobs`) into `source`'s weights: W' = a W, b' = a b + c."""
    kernel = weights[source.name][0]
    channels = kernel.shape[0]
    if layer.type == "BatchNorm":
        factor = float(blobs[2].reshape(-1)[0])
        scale = 0.0 if factor == 0 else 1.0 / factor
        mean, var = blobs[0].astype(np.float64) * scale, blobs[1].astype(np.float64) * scale
        a = 1.0 / np.sqrt(var + layer.batch_norm_param.eps)
        shift = -a * mean
    else:
        a = blobs[0].astype(np.float64).reshape(channels)
        shift = blobs[1].astype(np.float64).reshape(channels) if layer.scale_param.bias_term else np.zeros(channels)
    params = source.convolution_param if source.type == "Convolution" else source.inner_product_param
    bias = weights[source.name][1].astype(np.float64).reshape(channels) if params.bias_term else np.zeros(channels)
    folded_kernel = (kernel.astype(np.float64) * a.reshape((channels,) + (1,) * (kernel.ndim - 1)))
    folded_bias = a * bias + shift
    params.bias_term = True
    weights[source.name] = [folded_kernel.astype(kernel.dtype), folded_bias.astype(kernel.dtype)]


def _work_in_place(layers: list[pb.LayerParameter], weights: Weights, done: Counter) -> None:
    """ReLU, Sigmoid and TanH write over their bottom when nothing after them reads it: one blob less."""
    for i, lp in enumerate(layers):
        if lp.type not in ELEMENTWISE or len(lp.bottom) != 1 or lp.bottom[0] == lp.top[0]:
            continue
        bottom, top = lp.bottom[0], lp.top[0]
        p = producer(layers, i, bottom)
        if p is None or layers[p].type == "Input" or mentioned_after(layers, i, bottom) \
                or top in outputs(layers) or any(top in earlier.top for earlier in layers[:i]):
            continue
        rename_after(layers, i, top, bottom)
        lp.top[0] = bottom
        done[f"made {lp.type} in place"] += 1


def optimized(original: Net, net: pb.NetParameter) -> tuple[pb.NetParameter, Net, Counter]:
    """The Net `original` built from deploy net `net`, optimised: the rewritten net as a NetParameter and
    as a Net holding the rewritten weights, and the count of rewrites."""
    from .net import Net

    param, arrays, done = optimize(net, {name: [b.data for b in blobs] for name, blobs in original.params.items()})
    rewritten = Net(param, phase="TEST", base_dir=original.ctx.base_dir)
    for name, blobs in rewritten.params.items():
        for blob, array in zip(blobs, arrays[name], strict=True):
            blob.data = array.reshape(blob.shape)
    return param, rewritten, done
