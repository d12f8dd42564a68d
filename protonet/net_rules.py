"""Caffe's rules for a net's layers before it is built (net.cpp, insert_splits.cpp): the phase, the
include/exclude state rules that filter layers, and the Split layers for blobs with several consumers."""

from __future__ import annotations

from .errors import ConfigError, did_you_mean
from .proto import pb


def parse_phase(phase: str | int) -> int:
    if isinstance(phase, int):
        return phase
    try:
        return pb.Phase.Value(phase.upper())
    except ValueError:
        raise ConfigError(f"unknown phase '{phase}'", hint="use TRAIN or TEST") from None


def state_meets_rule(state: pb.NetState, rule: pb.NetStateRule) -> bool:
    """Caffe's StateMeetsRule: phase, level range, all stages present, no not_stage present."""
    if rule.HasField("phase") and rule.phase != state.phase:
        return False
    if rule.HasField("min_level") and state.level < rule.min_level:
        return False
    if rule.HasField("max_level") and state.level > rule.max_level:
        return False
    stages = set(state.stage)
    return all(s in stages for s in rule.stage) and not any(s in stages for s in rule.not_stage)


def filter_net(param: pb.NetParameter, state: pb.NetState) -> pb.NetParameter:
    """The layers of `param` that `state` includes (Caffe's FilterNet)."""
    out = pb.NetParameter()
    out.CopyFrom(param)
    del out.layer[:]
    for layer in param.layer:
        if layer.include and layer.exclude:
            raise ConfigError("a layer may have include or exclude rules, not both", layer=layer.name)
        keep = (any(state_meets_rule(state, r) for r in layer.include) if layer.include
                else not any(state_meets_rule(state, r) for r in layer.exclude))
        if keep:
            out.layer.add().CopyFrom(layer)
    return out


def split_layer_name(blob: str, layer: str, top_index: int) -> str:
    return f"{blob}_{layer}_{top_index}_split"


def insert_splits(param: pb.NetParameter) -> pb.NetParameter:
    """Give every blob consumed by several layers a Split layer with one top per consumer (insert_splits.cpp)."""
    last_top: dict[str, tuple[int, int]] = {}
    source_of: dict[tuple[int, int], tuple[int, int]] = {}
    consumers: dict[tuple[int, int], int] = {}
    loss_weight: dict[tuple[int, int], float] = {}
    for i, layer in enumerate(param.layer):
        for j, name in enumerate(layer.bottom):
            if name not in last_top:
                raise ConfigError(f"unknown bottom blob '{name}' (bottom {j})", layer=layer.name,
                                  hint=blob_hint(name, last_top))
            source_of[(i, j)] = last_top[name]
            consumers[last_top[name]] = consumers.get(last_top[name], 0) + 1
        for j, name in enumerate(layer.top):
            last_top[name] = (i, j)
            if j < len(layer.loss_weight) and layer.loss_weight[j]:
                loss_weight[(i, j)] = layer.loss_weight[j]
                consumers[(i, j)] = consumers.get((i, j), 0) + 1
    out = pb.NetParameter()
    out.CopyFrom(param)
    del out.layer[:]
    next_split: dict[tuple[int, int], int] = {}
    for i, layer in enumerate(param.layer):
        copy = out.layer.add()
        copy.CopyFrom(layer)
        for j, name in enumerate(layer.bottom):
            src = source_of[(i, j)]
            if consumers.get(src, 0) > 1:
                k = next_split.get(src, 0)
                next_split[src] = k + 1
                copy.bottom[j] = f"{split_layer_name(name, param.layer[src[0]].name, src[1])}_{k}"
        for j, name in enumerate(layer.top):
            count = consumers.get((i, j), 0)
            if count <= 1:
                continue
            split = out.layer.add(name=split_layer_name(name, layer.name, j), type="Split", bottom=[name])
            split.top.extend(f"{split.name}_{k}" for k in range(count))
            if (i, j) in loss_weight:
                split.loss_weight.extend([loss_weight[(i, j)]] + [0.0] * (count - 1))
                copy.loss_weight[j] = 0.0
                next_split[(i, j)] = 1
    return out


def blob_hint(name: str, known: dict) -> str | None:
    """The hint for an unknown bottom blob: the nearest known name, else why there is none."""
    return did_you_mean(name, known) or ("no earlier layer produces it" if known else "the net has no inputs")
