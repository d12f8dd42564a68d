"""protonet.caffe solvers, and Caffe's 01-learning-lenet notebook run through protonet.caffe on MNIST."""

from __future__ import annotations

import numpy as np
import pytest

import protonet.caffe as caffe
from protonet.data.database import LmdbWriter
from protonet.data.datum import encode_datum
from protonet.data.idx import read_idx
from protonet.errors import ConfigError

from .conftest import shared_path
from .test_caffe_net_spec import lenet

REGRESSION = """
name: "regression"
layer { name: "data" type: "DummyData" top: "x" top: "y"
        dummy_data_param { shape { dim: 8 dim: 3 } shape { dim: 8 dim: 1 }
                           data_filler { type: "gaussian" } data_filler { type: "constant" value: 1 } } }
layer { name: "ip" type: "InnerProduct" bottom: "x" top: "ip"
        inner_product_param { num_output: 1 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "loss" type: "EuclideanLoss" bottom: "ip" bottom: "y" top: "loss" }
"""


def solver_file(tmp_path, extra: str = "") -> str:
    (tmp_path / "net.prototxt").write_text(REGRESSION)
    path = tmp_path / "solver.prototxt"
    path.write_text('net: "net.prototxt"\nbase_lr: 0.05\nlr_policy: "fixed"\nmax_iter: 40\nmomentum: 0.9\n'
                    f'test_iter: 1\ntest_interval: 1000\ntest_initialization: false\nrandom_seed: 5\n'
                    f'snapshot_prefix: "{tmp_path}/snap/reg"\n{extra}')
    (tmp_path / "snap").mkdir()
    return str(path)


def test_the_solver_class_chooses_the_update_rule(tmp_path):
    path = solver_file(tmp_path, 'type: "Nesterov"\n')
    assert caffe.get_solver(path).param.type == "Nesterov"
    for cls, rule in [(caffe.SGDSolver, "SGD"), (caffe.NesterovSolver, "Nesterov"), (caffe.AdamSolver, "Adam"),
                      (caffe.AdaDeltaSolver, "AdaDelta")]:
        assert cls(path).param.type == rule
    for cls in (caffe.AdaGradSolver, caffe.RMSPropSolver):  # the file's momentum: Caffe refuses it with these
        with pytest.raises(ConfigError, match="momentum cannot be used with"):
            cls(path)


def test_step_trains_shares_weights_with_the_test_net_and_writes_nothing(tmp_path):
    solver = caffe.SGDSolver(solver_file(tmp_path))
    assert solver.iter == 0 and solver.max_iter == 40 and len(solver.test_nets) == 1
    assert solver.net is solver.net and isinstance(solver.net, caffe.Net)
    solver.net.forward()
    first = float(solver.net.blobs["loss"].data)
    solver.step(30)
    assert solver.iter == 30
    assert float(solver.net.blobs["loss"].data) < first / 10
    assert solver.test_nets[0].params["ip"][0] is solver.net.params["ip"][0]
    assert float(solver.test_nets[0].forward()["loss"]) < first / 10
    assert list((tmp_path / "snap").iterdir()) == []  # no snapshot asked for: no file


def test_snapshot_restore_and_solve(tmp_path):
    path = solver_file(tmp_path)
    solver = caffe.SGDSolver(path)
    solver.step(10)
    state = solver.snapshot()
    assert state.endswith("reg_iter_10.solverstate")
    solver.step(5)
    weights = solver.net.params["ip"][0].data.copy()
    again = caffe.SGDSolver(path)
    again.restore(state)
    assert again.iter == 10
    again.step(5)
    np.testing.assert_array_equal(again.net.params["ip"][0].data, weights)
    resumed = caffe.SGDSolver(path)
    resumed.solve(state)
    assert resumed.iter == 40
    assert (tmp_path / "snap" / "reg_iter_40.caffemodel").exists()


def test_share_weights_gives_a_net_the_solvers_weights(tmp_path):
    solver = caffe.SGDSolver(solver_file(tmp_path))
    net = caffe.Net(str(tmp_path / "net.prototxt"), caffe.TEST)
    solver.share_weights(net)
    solver.step(2)
    assert net.params["ip"][0] is solver.net.params["ip"][0]


SOLVER = """# Caffe's examples/mnist/lenet_auto_solver.prototxt
train_net: "mnist/lenet_auto_train.prototxt"
test_net: "mnist/lenet_auto_test.prototxt"
test_iter: 100
test_interval: 500
base_lr: 0.01
momentum: 0.9
weight_decay: 0.0005
lr_policy: "inv"
gamma: 0.0001
power: 0.75
display: 100
max_iter: 10000
snapshot: 5000
snapshot_prefix: "mnist/lenet"
random_seed: 1701  # not in Caffe's file: a test that gives the same figures each run
"""


def write_lmdb(dest, images, labels) -> None:
    """An LMDB of raw Datums keyed '%08d', as Caffe's convert_mnist_data writes MNIST."""
    with LmdbWriter(dest) as writer:
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            writer.put(b"%08d" % i, encode_datum(image[None], int(label)))


def test_the_learning_lenet_notebook(tmp_path, monkeypatch):
    """The steps of Caffe's examples/01-learning-lenet.ipynb with the import changed: its NetSpec, its
    LMDB sources and solver file. The LMDBs hold the first 8,000 train and 2,000 test MNIST images
    (the readers wrap around), and the loop runs fewer iterations and test batches, to stay fast."""
    pytest.importorskip("lmdb")
    mnist = shared_path("data", "mnist")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mnist").mkdir()
    for split, prefix, count in (("train", "train", 8000), ("test", "t10k", 2000)):
        images = read_idx(mnist / f"{prefix}-images-idx3-ubyte.gz")[:count]
        labels = read_idx(mnist / f"{prefix}-labels-idx1-ubyte.gz")[:count]
        write_lmdb(tmp_path / "mnist" / f"mnist_{split}_lmdb", images, labels)
    with open('mnist/lenet_auto_train.prototxt', 'w') as f:
        f.write(str(lenet('mnist/mnist_train_lmdb', 64)))
    with open('mnist/lenet_auto_test.prototxt', 'w') as f:
        f.write(str(lenet('mnist/mnist_test_lmdb', 100)))
    (tmp_path / "mnist" / "lenet_auto_solver.prototxt").write_text(SOLVER)

    caffe.set_device(0)
    caffe.set_mode_gpu()
    solver = caffe.SGDSolver('mnist/lenet_auto_solver.prototxt')
    assert [(k, v.data.shape) for k, v in solver.net.blobs.items()] == [
        ('data', (64, 1, 28, 28)), ('label', (64,)), ('conv1', (64, 20, 24, 24)), ('pool1', (64, 20, 12, 12)),
        ('conv2', (64, 50, 8, 8)), ('pool2', (64, 50, 4, 4)), ('fc1', (64, 500)), ('score', (64, 10)),
        ('loss', ())]
    assert [(k, v[0].data.shape) for k, v in solver.net.params.items()] == [
        ('conv1', (20, 1, 5, 5)), ('conv2', (50, 20, 5, 5)), ('fc1', (500, 800)), ('score', (10, 500))]
    solver.net.forward()
    solver.test_nets[0].forward()
    np.testing.assert_array_equal(solver.test_nets[0].blobs['label'].data[:8], [7, 2, 1, 0, 4, 1, 4, 9])
    assert solver.net.blobs['data'].data[:8, 0].transpose(1, 0, 2).reshape(28, 8 * 28).max() <= 1
    solver.step(1)
    assert solver.net.params['conv1'][0].diff[:, 0].reshape(4, 5, 5, 5).transpose(0, 2, 1, 3).reshape(
        4 * 5, 5 * 5).any()

    def accuracy(batches: int) -> float:
        correct = 0
        for _ in range(batches):
            solver.test_nets[0].forward()
            correct += sum(solver.test_nets[0].blobs['score'].data.argmax(1)
                           == solver.test_nets[0].blobs['label'].data)
        return correct / (100 * batches)

    niter, test_interval = 100, 100
    train_loss = np.zeros(niter)
    test_acc = np.zeros(int(np.ceil(niter / test_interval)) + 1)
    output = np.zeros((niter, 8, 10))
    for it in range(niter):
        solver.step(1)
        train_loss[it] = solver.net.blobs['loss'].data
        solver.test_nets[0].forward(start='conv1')
        output[it] = solver.test_nets[0].blobs['score'].data[:8]
        if it % test_interval == 0:
            test_acc[it // test_interval] = accuracy(10)
    test_acc[-1] = accuracy(20)
    assert solver.iter == niter + 1
    assert train_loss[:10].mean() > 2 * train_loss[-10:].mean()
    assert test_acc[0] < 0.6 and test_acc[-1] > 0.85, test_acc
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == [  # no run files, no snapshots
        "lenet_auto_solver.prototxt", "lenet_auto_test.prototxt", "lenet_auto_train.prototxt", "mnist_test_lmdb",
        "mnist_train_lmdb"]
