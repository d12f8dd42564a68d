"""train_val net -> deploy net (data layers become an Input, losses a Softmax), and zoo packaging."""

from __future__ import annotations

import datetime
from pathlib import Path

import yaml

from . import __version__, config
from .data.datasets import ALIAS, DATASETS, Dataset
from .errors import ConfigError
from .io import atomic_write
from .net import Net
from .net_rules import filter_net
from .proto import pb
from .zoo import sha256_of, zoo_dir

DATA_TYPES = {"Data", "ImageData", "HDF5Data", "WindowData", "MemoryData", "DummyData"}
DROP_TYPES = {"Accuracy", "Silence", "EuclideanLoss", "SigmoidCrossEntropyLoss", "HingeLoss",
              "ContrastiveLoss", "MultinomialLogisticLoss", "InfogainLoss"}


def deploy_net(model: str | Path, batch: int = 1) -> pb.NetParameter:
    """The TEST-phase net of `model` for inference: data -> Input, SoftmaxWithLoss -> Softmax 'prob'."""
    test_net = Net(model, phase="TEST")
    source = filter_net(config.load_net(model), pb.NetState(phase=pb.TEST))
    out = pb.NetParameter(name=source.name)
    available: set[str] = set()
    for layer in source.layer:
        if layer.type in DATA_TYPES:
            data_top = layer.top[0]
            shape = (batch,) + test_net.blobs[data_top].shape[1:]
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
        raise ConfigError("the net has no data layer to turn into an Input", file=str(model))
    return out


def dataset_of(model: str | Path) -> Dataset | None:
    """The known dataset a net's TEST data layer reads through an alias such as `fashion-mnist:test`."""
    source = filter_net(config.load_net(model), pb.NetState(phase=pb.TEST))
    for layer in source.layer:
        match = ALIAS.match(layer.data_param.source) if layer.type == "Data" else None
        if match and match[1] in DATASETS:
            return DATASETS[match[1]]
    return None


def test_transform(train_val: str | Path) -> pb.TransformationParameter:
    """The transform_param of the first TEST-phase data layer of a train_val net (empty without one)."""
    net = filter_net(config.load_net(train_val), pb.NetState(phase=pb.TEST))
    found = [lp.transform_param for lp in net.layer if lp.HasField("transform_param")]
    return found[0] if found else pb.TransformationParameter()


def deploy(model: str | Path, weights: str | Path, name: str, *, description: str = "",
           dataset: str = "", metrics: dict | None = None, labels: list[str] | None = None,
           solver: str | Path | None = None) -> Path:
    """Make zoo entry `name`: deploy.yaml, weights, train_val and model.yaml with the weights' sha256."""
    net = deploy_net(model)
    Net(net, weights=weights, phase="TEST")  # the weights must fit the deploy net
    known = dataset_of(model)
    dataset = dataset or (known.name if known else "")
    labels = labels or (list(known.labels) if known else None)
    folder = zoo_dir() / name
    folder.mkdir(parents=True, exist_ok=True)
    config.save(net, folder / "deploy.yaml")
    config.save(config.load_net(model), folder / "train_val.yaml")
    if solver:
        config.save(config.load_solver(solver), folder / "solver.yaml")
    weights_file = folder / f"{name}.caffemodel"
    atomic_write(weights_file, Path(weights).read_bytes())
    if labels:
        atomic_write(folder / "labels.txt", ("\n".join(labels) + "\n").encode())
    inputs = {lp.top[0]: list(lp.input_param.shape[0].dim) for lp in net.layer if lp.type == "Input"}
    meta = {
        "name": name, "description": description, "task": "classification", "dataset": dataset,
        "inputs": inputs, "transform": config.message_to_dict(test_transform(model)),
        "deploy": "deploy.yaml", "train_val": "train_val.yaml",
        "weights": {"file": weights_file.name, "sha256": sha256_of(weights_file)},
        "metrics": metrics or {}, "labels": "labels.txt" if labels else None,
        "source": str(weights), "license": "", "protonet_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write(folder / "model.yaml", yaml.safe_dump(meta, sort_keys=False).encode())
    return folder

