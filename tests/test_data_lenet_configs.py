"""configs/lenet: the YAML and prototxt twins load equal, and their Data layers read Fashion-MNIST."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from protonet.config import load_net, load_solver
from protonet.errors import DataError
from protonet.net import Net
from protonet.proto import pb

LENET = Path(__file__).resolve().parents[1] / "configs" / "lenet"


def test_train_val_yaml_and_prototxt_are_the_same_net():
    net = load_net(LENET / "train_val.yaml")
    assert net == load_net(LENET / "train_val.prototxt")
    assert [layer.name for layer in net.layer] == [
        "mnist", "mnist", "conv1", "pool1", "conv2", "pool2", "ip1", "relu1", "ip2", "accuracy", "loss"]
    train, test = net.layer[0], net.layer[1]
    assert (train.data_param.source, train.data_param.batch_size, train.include[0].phase) == \
        ("fashion-mnist:train", 64, pb.TRAIN)
    assert (test.data_param.source, test.data_param.batch_size, test.include[0].phase) == \
        ("fashion-mnist:test", 100, pb.TEST)
    assert train.transform_param.scale == pytest.approx(1 / 256)


def test_solver_yaml_and_prototxt_are_the_same_solver():
    solver = load_solver(LENET / "solver.yaml")
    assert solver == load_solver(LENET / "solver.prototxt")
    assert Path(solver.net) == LENET / "train_val.yaml"
    assert (solver.base_lr, solver.momentum, solver.weight_decay, solver.lr_policy, solver.power) == \
        (pytest.approx(0.01), pytest.approx(0.9), pytest.approx(0.0005), "inv", pytest.approx(0.75))
    s = solver
    assert (s.max_iter, s.test_interval, s.test_iter[0], s.snapshot, s.random_seed) == \
        (4000, 1000, 100, 2000, 1701)


def test_deploy_ends_in_softmax_prob():
    net = load_net(LENET / "deploy.yaml")
    assert list(net.layer[0].input_param.shape[0].dim) == [1, 1, 28, 28]
    assert (net.layer[-1].type, net.layer[-1].top[0]) == ("Softmax", "prob")
    train_names = [layer.name for layer in load_net(LENET / "train_val.yaml").layer[2:-2]]
    assert [layer.name for layer in net.layer[1:-1]] == train_names


@pytest.mark.parametrize("phase, batch, records", [("TRAIN", 64, 60000), ("TEST", 100, 10000)])
def test_data_layers_read_fashion_mnist(phase, batch, records):
    param = load_net(LENET / "train_val.yaml")
    del param.layer[2:]
    try:
        net = Net(param, phase=phase, base_dir=LENET)
    except DataError as exc:
        pytest.skip(f"Fashion-MNIST is not available: {exc}")
    out = net.forward()
    assert out["data"].shape == (batch, 1, 28, 28) and out["label"].shape == (batch,)
    assert net.layers[0].num_records == records
    assert out["data"].min() >= 0 and out["data"].max() < 1 and set(np.unique(out["label"])) <= set(range(10))
