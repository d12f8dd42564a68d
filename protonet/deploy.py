"""Zoo entries from nets: `deploy` (a run protonet trained) and `import_model` (a net trained in Caffe).

A train_val net becomes a deploy net (data layers become an Input, SoftmaxWithLoss a Softmax 'prob',
metrics and other losses go); a deploy net (Input layers, or the legacy `input:` declarations) is kept
as it is. The TEST data layer's transform_param becomes the entry's input transform, its mean file
copied into the entry, so that `protonet predict` prepares inputs as training did. An entry is written
whole into a hidden folder of the zoo, checked (the weights fit the net, the transform fits the
input), and only then renamed into place.
"""

from __future__ import annotations

import contextlib
import datetime
import shutil
import tempfile
from pathlib import Path

import numpy as np
import yaml

from . import __version__, config
from .data.datasets import ALIAS, DATASETS, Dataset
from .data.transform import read_mean_file
from .errors import ConfigError, DataError, ProtonetError
from .io import write_error
from .net import Net
from .predict import entry_predictor, fit_weights, net_at_test, test_transform
from .proto import pb
from .weights import read_weights
from .zoo import check_free, check_name, move_into_place, sha256_of, validate_entry, zoo_dir

DATA_TYPES = {"Data", "ImageData", "HDF5Data", "WindowData", "MemoryData", "DummyData"}
DROP_TYPES = {"Accuracy", "Silence", "EuclideanLoss", "SigmoidCrossEntropyLoss", "HingeLoss",
              "ContrastiveLoss", "MultinomialLogisticLoss", "InfogainLoss"}
MEAN_FILE = "mean.binaryproto"
Shape = tuple[int, ...]


def deploy_net(model: str | Path, batch: int = 1, *, input_shape: Shape | None = None,
               weights: str | Path | None = None) -> pb.NetParameter:
    """The TEST-phase net of `model` for inference: data -> Input, SoftmaxWithLoss -> Softmax 'prob'.

    A data layer's record shape is `input_shape` when given, else found by record_shape (`weights`
    helps there when the data source is not at hand)."""
    source = net_at_test(model)
    out = pb.NetParameter(name=source.name or None)
    available: set[str] = set()
    for layer in source.layer:
        if layer.type in DATA_TYPES:
            data_top = layer.top[0]
            shape = (batch, *(input_shape or record_shape(model, source, layer, weights)))
            out.layer.add(name=data_top, type="Input", top=[data_top]).input_param.shape.add(dim=shape)
            available.add(data_top)
            continue
        if layer.type == "SoftmaxWithLoss" and layer.bottom[0] in available:
            out.layer.add(name="prob", type="Softmax", bottom=[layer.bottom[0]], top=["prob"])
            available.add("prob")
            continue
        if layer.type in DROP_TYPES or not all(b in available for b in layer.bottom):
            continue
        copy = out.layer.add()
        copy.CopyFrom(layer)
        for field in ("include", "exclude", "loss_weight", "blobs"):
            copy.ClearField(field)
        available.update(copy.top)
    if not any(layer.type == "Input" for layer in out.layer):
        raise ConfigError("the net has no data layer or input declaration to take inputs from", file=str(model))
    return out


def record_shape(model: str | Path, net: pb.NetParameter, layer: pb.LayerParameter,
                 weights: str | Path | None = None) -> Shape:
    """(C, H, W) of the records data layer `layer` gives: read from its source when that is at hand, else
    its mean file's shape (cut to crop_size), else crop_size with the channels of the first convolution
    in `weights`."""
    try:
        return Net(model, phase="TEST").blobs[layer.top[0]].shape[1:]
    except ProtonetError as exc:
        reason = exc.message
    crop = layer.transform_param.crop_size
    if layer.transform_param.HasField("mean_file"):
        with contextlib.suppress(ProtonetError):
            mean = read_mean_file(layer.transform_param.mean_file, Path(model).parent)
            return (mean.shape[-3], crop or mean.shape[-2], crop or mean.shape[-1])
    channels = input_channels(net, layer.top[0], weights) if weights else None
    if crop and channels:
        return channels, crop, crop
    raise ConfigError(f"cannot tell the shape of the records of data layer '{layer.name}' ({reason})",
                      file=str(model), hint="give it as --input-shape C,H,W")


def input_channels(net: pb.NetParameter, blob: str, weights: str | Path) -> int | None:
    """The input channels of the first Convolution reading `blob`, from its weights: shape[1] x group."""
    conv = next((lp for lp in net.layer if blob in lp.bottom and lp.type == "Convolution"), None)
    arrays = read_weights(weights).get(conv.name) if conv else None
    return arrays[0].shape[1] * max(conv.convolution_param.group, 1) if arrays else None


def dataset_of(model: str | Path) -> Dataset | None:
    """The known dataset a net's TEST data layer reads through an alias such as `fashion-mnist:test`."""
    for layer in net_at_test(model).layer:
        match = ALIAS.match(layer.data_param.source) if layer.type == "Data" else None
        if match and match[1] in DATASETS:
            return DATASETS[match[1]]
    return None


# ------------------------------------------------------------------ zoo entries


def entry_solver(solver: str | Path, train_val: str | Path | None) -> pb.SolverParameter:
    """The solver as a zoo entry keeps it: when it trained `train_val`, its net is the entry's own copy
    (train_val.yaml, found beside it wherever the entry moves), not the path it was trained from."""
    param = config.load_solver(solver)
    if train_val is not None and param.HasField("net") and Path(param.net).resolve() == Path(train_val).resolve():
        param.net = "train_val.yaml"
    return param


def deploy(model: str | Path, weights: str | Path, name: str, *, description: str = "",
           dataset: str = "", metrics: dict | None = None, labels: list[str] | None = None,
           solver: str | Path | None = None, transform: pb.TransformationParameter | None = None,
           input_shape: Shape | None = None, optimize: bool = False, extra: dict | None = None,
           force: bool = True) -> Path:
    """Make zoo entry `name` from `model` (a train_val or deploy net) and its trained `weights`.

    The entry holds deploy.yaml, the weights, the train_val net (when `model` is one), the solver,
    labels.txt, the mean file, and model.yaml with the weights' sha256 and the input `transform` (the
    TEST data layer's, with the fields set in `transform` put over it). `optimize` rewrites the deploy
    net and its weights (protonet.optimize). `extra` adds fields to model.yaml. An existing entry is
    replaced only with `force`, once the new one is whole."""
    check_free(check_name(name), force)
    net = deploy_net(model, input_shape=input_shape, weights=weights)
    checked = Net(net, phase="TEST")
    fit_weights(checked, weights)
    known = dataset_of(model)
    is_train_val = any(lp.type in DATA_TYPES for lp in net_at_test(model).layer)
    transform, mean_source = entry_transform(model, transform)
    meta = {"name": name, "description": description, "task": "classification",
            "dataset": dataset or (known.name if known else ""),
            "inputs": {lp.top[0]: list(lp.input_param.shape[0].dim) for lp in net.layer if lp.type == "Input"},
            "transform": config.message_to_dict(transform), **image_size(transform, mean_source),
            "deploy": "deploy.yaml", "train_val": "train_val.yaml" if is_train_val else None,
            "weights": {"file": f"{name}.caffemodel"}, "metrics": metrics or {},
            "labels": None, "source": str(weights), "license": "", "protonet_version": __version__,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), **(extra or {})}
    labels = labels or (list(known.labels) if known else None)
    root = zoo_dir()
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".deploy-", dir=root))
    try:
        folder = work / name
        folder.mkdir()
        if optimize:
            from .optimize import optimized

            net, rewritten, done = optimized(checked, net)
            meta["optimized"] = dict(sorted(done.items()))
            (folder / meta["weights"]["file"]).write_bytes(rewritten.to_proto().SerializeToString())
        else:
            shutil.copyfile(weights, folder / meta["weights"]["file"])
        meta["weights"]["sha256"] = sha256_of(folder / meta["weights"]["file"])
        config.save(net, folder / "deploy.yaml")
        if is_train_val:
            config.save(config.load_net(model), folder / "train_val.yaml")
        if solver:
            config.save(entry_solver(solver, model if is_train_val else None), folder / "solver.yaml")
        if labels:
            (folder / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
            meta["labels"] = "labels.txt"
        if mean_source is not None:
            shutil.copyfile(mean_source, folder / MEAN_FILE)
        (folder / "model.yaml").write_text(yaml.safe_dump(meta, sort_keys=False), encoding="utf-8")
        validate_entry(folder)
        check_transform(folder, meta)
        check_free(name, force)
        move_into_place(folder, root / name)
        return root / name
    except OSError as exc:
        raise write_error(exc, root / name, "nothing was written to the zoo") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def import_model(model: str | Path, weights: str | Path, name: str, *, labels: str | Path | None = None,
                 description: str = "", **options: object) -> Path:
    """Zoo entry `name` from a net trained elsewhere (Caffe): `deploy` with a labels file (one per line),
    no metrics, and no existing entry replaced unless `force=True` is among `options`."""
    names = None
    if labels:
        try:
            names = [line.strip() for line in Path(labels).read_text(encoding="utf-8").splitlines() if line.strip()]
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read the labels ({getattr(exc, 'strerror', None) or exc})",
                            file=str(labels), hint="give a text file with one class name per line") from None
    options.setdefault("force", False)
    return deploy(model, weights, name, description=description or f"imported from {model}", labels=names,
                  **options)


def entry_transform(model: str | Path, given: pb.TransformationParameter | None
                    ) -> tuple[pb.TransformationParameter, Path | None]:
    """The input transform of an entry, and the mean file to copy into it (named MEAN_FILE there).

    The TEST data layer's transform_param, with the fields set in `given` put over it (a mean_file or
    mean_value there replaces the other kind). Training-only fields (mirror) are dropped."""
    transform = pb.TransformationParameter()
    transform.CopyFrom(test_transform(model))
    if given is not None:
        if given.HasField("mean_file") or given.mean_value:
            transform.ClearField("mean_file")
            transform.ClearField("mean_value")
        transform.MergeFrom(given)
    transform.ClearField("mirror")
    if not transform.HasField("mean_file"):
        return transform, None
    from .data.sources import resolve_path

    try:
        source = resolve_path(transform.mean_file, Path(model).parent)
    except ProtonetError:
        raise DataError(f"the mean file '{transform.mean_file}' of the TEST data layer is not here",
                        file=str(model), hint="run from the folder its path is relative to, "
                                              "or give the file as --mean-file PATH") from None
    read_mean_file(str(source), Path.cwd())  # a valid .binaryproto
    transform.mean_file = MEAN_FILE
    return transform, source


def image_size(transform: pb.TransformationParameter, mean_file: Path | None) -> dict:
    """{'resize': [H, W]}: the size images are resized to before the centre crop, when the transform
    crops a mean image's size (Caffe's records had the mean's size); else nothing."""
    if not (transform.crop_size and mean_file):
        return {}
    mean = read_mean_file(str(mean_file), Path.cwd())
    return {"resize": [int(mean.shape[-2]), int(mean.shape[-1])]}


def check_transform(folder: Path, meta: dict) -> None:
    """A mean in the transform of an entry with one image input fits it: one zero record prepares."""
    shapes = list(meta["inputs"].values())
    if not (meta["transform"].get("mean_file") or meta["transform"].get("mean_value")) \
            or len(shapes) != 1 or len(shapes[0]) != 4:
        return
    predictor = entry_predictor(folder, weights=str(folder / meta["weights"]["file"]))  # checked just before
    predictor.prepare(np.zeros((1, *predictor.input_shape), np.float32))
