"""V0 and V1 nets -> the current `layer` format, as Caffe's upgrade_proto.cpp does.

Three steps, in Caffe's order: V0 layers (`layers { layer { type: "conv" } }`) become V1 layers
(`UpgradeV0Net`, which also folds `padding` layers into the next conv or pool), data
transformation fields of V1 data layers move into `transform_param`
(`UpgradeNetDataTransformation`), and V1 layers become `layer` (`UpgradeV1Net`). A type or field
with no current equivalent is a ConfigError naming it; a V0 field set on a layer type it does not
apply to is dropped with a warning, as Caffe does.
"""

from __future__ import annotations

import logging

from google.protobuf import unknown_fields
from google.protobuf.message import Message

from .errors import ConfigError, did_you_mean
from .proto import pb

log = logging.getLogger("protonet")
V1 = pb.V1LayerParameter

# V1 LayerType enum name -> current type name (UpgradeV1LayerType).
V1_TYPE_NAMES = {
    "ABSVAL": "AbsVal", "ACCURACY": "Accuracy", "ARGMAX": "ArgMax", "BNLL": "BNLL", "CONCAT": "Concat",
    "CONTRASTIVE_LOSS": "ContrastiveLoss", "CONVOLUTION": "Convolution", "DATA": "Data",
    "DECONVOLUTION": "Deconvolution", "DROPOUT": "Dropout", "DUMMY_DATA": "DummyData",
    "EUCLIDEAN_LOSS": "EuclideanLoss", "ELTWISE": "Eltwise", "EXP": "Exp", "FLATTEN": "Flatten",
    "HDF5_DATA": "HDF5Data", "HDF5_OUTPUT": "HDF5Output", "HINGE_LOSS": "HingeLoss", "IM2COL": "Im2col",
    "IMAGE_DATA": "ImageData", "INFOGAIN_LOSS": "InfogainLoss", "INNER_PRODUCT": "InnerProduct", "LRN": "LRN",
    "MEMORY_DATA": "MemoryData", "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss", "MVN": "MVN",
    "POOLING": "Pooling", "POWER": "Power", "RELU": "ReLU", "SIGMOID": "Sigmoid",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss", "SILENCE": "Silence", "SOFTMAX": "Softmax",
    "SOFTMAX_LOSS": "SoftmaxWithLoss", "SPLIT": "Split", "SLICE": "Slice", "TANH": "TanH",
    "WINDOW_DATA": "WindowData", "THRESHOLD": "Threshold",
}

# V0 type string -> V1 LayerType enum name (UpgradeV0LayerType); "padding" is folded away first.
V0_TYPES = {
    "accuracy": "ACCURACY", "bnll": "BNLL", "concat": "CONCAT", "conv": "CONVOLUTION", "data": "DATA",
    "dropout": "DROPOUT", "euclidean_loss": "EUCLIDEAN_LOSS", "flatten": "FLATTEN", "hdf5_data": "HDF5_DATA",
    "hdf5_output": "HDF5_OUTPUT", "im2col": "IM2COL", "images": "IMAGE_DATA",
    "infogain_loss": "INFOGAIN_LOSS", "innerproduct": "INNER_PRODUCT", "lrn": "LRN",
    "multinomial_logistic_loss": "MULTINOMIAL_LOGISTIC_LOSS", "pool": "POOLING", "relu": "RELU",
    "sigmoid": "SIGMOID", "softmax": "SOFTMAX", "softmax_loss": "SOFTMAX_LOSS", "split": "SPLIT",
    "tanh": "TANH", "window_data": "WINDOW_DATA",
}

_FILLER_OWNERS = {"conv": "convolution_param", "innerproduct": "inner_product_param"}
_SOURCE_OWNERS = {"data": "data_param", "hdf5_data": "hdf5_data_param", "images": "image_data_param",
                  "window_data": "window_data_param", "infogain_loss": "infogain_loss_param"}
_BATCH_OWNERS = {"data": "data_param", "hdf5_data": "hdf5_data_param", "images": "image_data_param",
                 "window_data": "window_data_param"}


def _each(owners: dict[str, str], field: str) -> dict[str, str]:
    return {v0_type: f"{param}.{field}" for v0_type, param in owners.items()}


# V0 field -> {V0 type it applies to: "param.field" in the V1 layer} (UpgradeV0LayerParameter).
V0_FIELDS: dict[str, dict[str, str]] = {
    "num_output": _each(_FILLER_OWNERS, "num_output"),
    "biasterm": _each(_FILLER_OWNERS, "bias_term"),
    "weight_filler": _each(_FILLER_OWNERS, "weight_filler"),
    "bias_filler": _each(_FILLER_OWNERS, "bias_filler"),
    "pad": {"conv": "convolution_param.pad", "pool": "pooling_param.pad"},
    "kernelsize": {"conv": "convolution_param.kernel_size", "pool": "pooling_param.kernel_size"},
    "stride": {"conv": "convolution_param.stride", "pool": "pooling_param.stride"},
    "group": {"conv": "convolution_param.group"},
    "pool": {"pool": "pooling_param.pool"},
    "dropout_ratio": {"dropout": "dropout_param.dropout_ratio"},
    **{name: {"lrn": f"lrn_param.{name}"} for name in ("local_size", "alpha", "beta", "k")},
    "source": _each(_SOURCE_OWNERS, "source"),
    "batchsize": _each(_BATCH_OWNERS, "batch_size"),
    "rand_skip": {"data": "data_param.rand_skip", "images": "image_data_param.rand_skip"},
    "shuffle_images": {"images": "image_data_param.shuffle"},
    "new_height": {"images": "image_data_param.new_height"},
    "new_width": {"images": "image_data_param.new_width"},
    "concat_dim": {"concat": "concat_param.concat_dim"},
    "det_fg_threshold": {"window_data": "window_data_param.fg_threshold"},
    "det_bg_threshold": {"window_data": "window_data_param.bg_threshold"},
    "det_fg_fraction": {"window_data": "window_data_param.fg_fraction"},
    "det_context_pad": {"window_data": "window_data_param.context_pad"},
    "det_crop_mode": {"window_data": "window_data_param.crop_mode"},
    "hdf5_output_param": {"hdf5_output": "hdf5_output_param"},
}
# V0 fields that go to transform_param whatever the layer type.
V0_TRANSFORM = {"scale": "scale", "meanfile": "mean_file", "cropsize": "crop_size", "mirror": "mirror"}

# V1 data layers whose own param held the transformation fields (UpgradeNetDataTransformation).
DATA_TRANSFORM_OWNERS = {V1.DATA: "data_param", V1.IMAGE_DATA: "image_data_param",
                         V1.WINDOW_DATA: "window_data_param"}
TRANSFORM_FIELDS = ("scale", "mean_file", "crop_size", "mirror")

# V1 per-blob lists -> ParamSpec fields.
V1_PARAM_SPEC = {"param": "name", "blob_share_mode": "share_mode", "blobs_lr": "lr_mult",
                 "weight_decay": "decay_mult"}


def is_v0(net: pb.NetParameter) -> bool:
    """Caffe's NetNeedsV0ToV1Upgrade: some V1 layer wraps a V0 `layer`."""
    return any(layer.HasField("layer") for layer in net.layers)


# ------------------------------------------------------------------ V0 -> V1


def upgrade_v0_net(net: pb.NetParameter, source: str | None = None) -> pb.NetParameter:
    """A copy of `net` whose V0 layers are V1 layers, `padding` layers folded into their consumer."""
    out = pb.NetParameter()
    out.CopyFrom(net)
    del out.layers[:]
    for wrapper in fold_padding(list(net.layers), source):
        out.layers.add().CopyFrom(_v0_layer_to_v1(wrapper, source) if wrapper.HasField("layer") else wrapper)
    return out


def fold_padding(layers: list[pb.V1LayerParameter], source: str | None) -> list[pb.V1LayerParameter]:
    """Drop V0 `padding` layers; the conv or pool fed by one takes its `pad` and its input."""
    producer: dict[str, pb.V1LayerParameter] = {}
    out = []
    for wrapper in layers:
        kept = V1()
        kept.CopyFrom(wrapper)
        for j, blob in enumerate(wrapper.bottom):
            padding = producer.get(blob)
            if padding is None or padding.layer.type != "padding":
                continue
            name, kind = wrapper.layer.name, wrapper.layer.type
            if kind not in ("conv", "pool"):
                raise ConfigError(f"padding layer '{padding.layer.name}' feeds a '{kind}' layer", file=source,
                                  layer=name, hint="V0 padding may only feed a conv or pool layer")
            if len(wrapper.bottom) != 1 or len(padding.bottom) != 1 or len(padding.top) != 1:
                raise ConfigError(f"padding layer '{padding.layer.name}' and its consumer must have one "
                                  "bottom and one top each", file=source, layer=name)
            kept.layer.pad = padding.layer.pad
            kept.bottom[j] = padding.bottom[0]
        if wrapper.layer.type != "padding":
            out.append(kept)
        for blob in wrapper.top:
            producer[blob] = wrapper
    return out


def _v0_layer_to_v1(wrapper: pb.V1LayerParameter, source: str | None) -> pb.V1LayerParameter:
    v0 = wrapper.layer
    if not v0.HasField("type"):
        raise ConfigError("V0 layer has no type", file=source, layer=v0.name or None,
                          hint="set 'type', e.g. type: \"conv\"")
    out = V1()
    out.CopyFrom(wrapper)
    out.ClearField("layer")
    kind = v0.type
    for field, value in v0.ListFields():
        name = field.name
        if name == "name":
            out.name = value
        elif name == "type":
            if kind not in V0_TYPES:
                known = f"known: {', '.join(sorted(V0_TYPES))}"
                raise ConfigError(f"unknown V0 layer type '{kind}'", file=source, layer=v0.name,
                                  hint=did_you_mean(kind, V0_TYPES) or known)
            out.type = V1.LayerType.Value(V0_TYPES[kind])
        elif name in ("blobs", "blobs_lr", "weight_decay"):
            getattr(out, name).extend(value)
        elif name in V0_TRANSFORM:
            setattr(out.transform_param, V0_TRANSFORM[name], value)
        elif name == "pool" and kind == "pool":
            out.pooling_param.pool = pb.PoolingParameter.PoolMethod.Value(v0.PoolMethod.Name(value))
        elif kind in V0_FIELDS.get(name, {}):
            _assign(out, V0_FIELDS[name][kind], value)
        else:  # Caffe logs "Unknown parameter X for layer type Y" and goes on without it
            targets = V0_FIELDS.get(name, {})
            log.warning("%slayer '%s': V0 field '%s' does not apply to a '%s' layer and is ignored%s",
                        f"{source}: " if source else "", v0.name, name, kind,
                        f" (it applies to {', '.join(targets)} layers)" if targets else "")
    return out


def _assign(message: Message, path: str, value: object) -> None:
    """Set (or append to, or copy into) the field at dotted `path` below `message`."""
    *parents, last = path.split(".")
    for part in parents:
        message = getattr(message, part)
    field = message.DESCRIPTOR.fields_by_name[last]
    if field.is_repeated:
        getattr(message, last).append(value)
    elif field.message_type is not None:
        getattr(message, last).CopyFrom(value)
    else:
        setattr(message, last, value)


# ------------------------------------------------------------------ data transformation


def upgrade_data_transformation(net: pb.NetParameter) -> bool:
    """Move scale/mean_file/crop_size/mirror of V1 data layers into transform_param, in place.

    Returns whether anything moved. Like Caffe, a field set in both places takes the old value.
    """
    moved = False
    for layer in net.layers:
        owner = DATA_TRANSFORM_OWNERS.get(layer.type)
        if owner is None or not layer.HasField(owner):
            continue
        param = getattr(layer, owner)
        for name in TRANSFORM_FIELDS:
            if param.HasField(name):
                setattr(layer.transform_param, name, getattr(param, name))
                param.ClearField(name)
                moved = True
    return moved


# ------------------------------------------------------------------ V1 -> current


def upgrade_v1_net(net: pb.NetParameter, source: str | None = None) -> pb.NetParameter:
    """A copy of `net` with its V1 `layers` as current `layer` entries (Caffe's UpgradeV1Net)."""
    if net.layer:
        raise ConfigError(f"the net mixes {len(net.layer)} 'layer' (current) and {len(net.layers)} 'layers' "
                          "(V1) entries", file=source, hint="write every layer in one format")
    out = pb.NetParameter()
    out.CopyFrom(net)
    del out.layers[:]
    for v1 in net.layers:
        out.layer.add().CopyFrom(v1_layer_to_current(v1, source))
    return out


def v1_layer_to_current(v1: pb.V1LayerParameter, source: str | None = None) -> pb.LayerParameter:
    """One V1 layer as a LayerParameter: enum type -> name, blobs_lr/weight_decay -> param."""
    _check_unknown(v1, source)
    if not v1.HasField("type") or v1.type == V1.NONE:
        raise ConfigError("V1 layer has no type", file=source, layer=v1.name or None,
                          hint="set 'type', e.g. type: CONVOLUTION")
    out = pb.LayerParameter()
    current = pb.LayerParameter.DESCRIPTOR.fields_by_name
    for field, value in v1.ListFields():
        name = field.name
        if name == "name":
            out.name = value
        elif name == "type":
            out.type = v1_type_name(value, v1.name, source)
        elif name in V1_PARAM_SPEC:
            _to_param_specs(out, V1_PARAM_SPEC[name], value)
        elif name in current and current[name].message_type == field.message_type:
            target = getattr(out, name)
            if field.is_repeated:
                target.extend(value)
            else:
                target.CopyFrom(value)
        else:
            raise ConfigError(f"V1 field '{name}' has no current equivalent", file=source,
                              layer=v1.name or None, hint="upgrade this layer by hand")
    return out


def v1_type_name(value: int, layer: str | None = None, source: str | None = None) -> str:
    """The current type name of a V1 LayerType enum value."""
    enum_name = V1.LayerType.Name(value)
    if enum_name not in V1_TYPE_NAMES:
        raise ConfigError(f"V1 layer type {enum_name} has no current equivalent", file=source, layer=layer)
    return V1_TYPE_NAMES[enum_name]


def _to_param_specs(out: pb.LayerParameter, attr: str, values: list) -> None:
    """Entry i of a V1 per-blob list sets field `attr` of param[i], adding ParamSpecs as needed."""
    for i, value in enumerate(values):
        while len(out.param) <= i:
            out.param.add()
        if attr == "share_mode":
            value = pb.ParamSpec.DimCheckMode.Value(V1.DimCheckMode.Name(value))
        setattr(out.param[i], attr, value)


def _check_unknown(v1: pb.V1LayerParameter, source: str | None) -> None:
    """Fields a binary file sets that protonet's schema lacks (a fork's layer type or parameter)."""
    unknown = list(unknown_fields.UnknownFieldSet(v1))
    if not unknown:
        return
    first = unknown[0]
    is_type = first.field_number == V1.DESCRIPTOR.fields_by_name["type"].number
    what = (f"unknown V1 layer type number {first.data}" if is_type
            else f"unknown V1 layer field number {first.field_number}")
    raise ConfigError(what, file=source, layer=v1.name or None,
                      hint="the file comes from a Caffe fork that protonet does not support")
