"""Helpers for the solver tests (no tests here): tiny nets, a solver factory and a test-only data layer.

`Feed` is registered only while a net is built (see `registered_feed`), so it never shows up in the
layer registry that other tests inspect.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
from google.protobuf import text_format

from protonet import Solver
from protonet.layers import registry
from protonet.layers.base import Blobs, Layer
from protonet.proto import pb

# loss = sum_n (x_n . w + b): dL/dw = sum_n x_n, dL/db = N, whatever W is.
X = np.array([[1.0, -2.0, 3.0], [0.5, 1.0, 2.0]])
GRAD_W = X.sum(axis=0)[None, :]
GRAD_B = np.array([float(len(X))])
W0, B0 = 0.5, float(np.float32(0.1))  # the fillers' values (float32 fields)

LINEAR_NET = """
name: "linear"
layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 } } }
layer {
  name: "ip" type: "InnerProduct" bottom: "x" top: "y" loss_weight: 1
  param { lr_mult: LRW decay_mult: DMW } param { lr_mult: LRB decay_mult: DMB }
  inner_product_param { num_output: 1 weight_filler { type: "constant" value: 0.5 }
                        bias_filler { type: "constant" value: 0.1 } }
}
"""

FEED_NET = """
name: "feed"
layer { name: "data" type: "SolverTestFeed" top: "data" top: "label"
        input_param { shape { dim: BATCH dim: 3 } } dummy_data_param { data_filler { std: NOISE } } }
layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1"
        inner_product_param { num_output: 4 weight_filler { type: "gaussian" std: 0.5 } } }
layer { name: "relu" type: "ReLU" bottom: "ip1" top: "ip1" }
EXTRA
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
        inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 0.5 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }
layer { name: "acc" type: "Accuracy" bottom: "ip2" bottom: "label" top: "acc" include { phase: TEST } }
"""


def linear_net(lr_mult: tuple[float, float] = (1, 1), decay_mult: tuple[float, float] = (1, 1)) -> str:
    return (LINEAR_NET.replace("LRW", str(lr_mult[0])).replace("LRB", str(lr_mult[1]))
            .replace("DMW", str(decay_mult[0])).replace("DMB", str(decay_mult[1])))


def feed_net(batch: int = 2, noise: float = 0.0, extra: str = "") -> str:
    return FEED_NET.replace("BATCH", str(batch)).replace("NOISE", str(noise)).replace("EXTRA", extra)


def solver_param(net: str, text: str = "") -> pb.SolverParameter:
    """A solver with the net inlined: SGD, fixed lr 0.1, max_iter 10 unless `text` says otherwise."""
    param = pb.SolverParameter(base_lr=0.1, lr_policy="fixed", max_iter=10, random_seed=5)
    param.MergeFrom(text_format.Parse(text, pb.SolverParameter()))
    text_format.Parse(net, param.net_param)
    return param


def make_solver(net: str, text: str = "", *, dtype: type = np.float64, **kwargs: object) -> Solver:
    """A Solver over `net` (prototxt) with `text` solver fields; linear nets get their input X."""
    with registered_feed():
        solver = Solver(solver_param(net, text), dtype=dtype, **kwargs)
    if "x" in solver.net.blobs:
        solver.net.blobs["x"].data = X
    return solver


def solver_from(param: pb.SolverParameter | str, **kwargs: object) -> Solver:
    with registered_feed():
        return Solver(param, **kwargs)


def weights(solver: Solver) -> list[np.ndarray]:
    return [p.blob.data.copy() for p in solver.net.learnable]


class Feed(Layer):
    """Test-only data source: consecutive rows of a fixed 12-row table (labels row % 2), plus
    ctx.rng Gaussian noise of std dummy_data_param.data_filler.std in TRAIN; has cursor()/seek()."""

    bottoms = (0, 0)
    tops = (2, 2)
    has_backward = False
    ROWS = 12

    def setup(self, bottom: Blobs, top: Blobs) -> None:
        self.shape = tuple(self.param.input_param.shape[0].dim)
        self.noise = self.param.dummy_data_param.data_filler[0].std
        self.table = feed_table(self.shape[1:])
        self.position, self.epoch = 0, 0

    def reshape(self, bottom: Blobs, top: Blobs) -> None:
        top[0].reshape(self.shape)
        top[1].reshape(self.shape[:1])

    def forward(self, bottom: Blobs, top: Blobs) -> None:
        rows = (self.position + np.arange(self.shape[0])) % self.ROWS
        data = self.table[rows]
        if self.ctx.training and self.noise:
            data = data + self.noise * self.ctx.rng.normal(size=data.shape)
        top[0].data = data
        top[1].data = rows % 2
        self.epoch += (self.position + self.shape[0]) // self.ROWS
        self.position = (self.position + self.shape[0]) % self.ROWS

    def cursor(self) -> tuple[int, int]:
        return self.position, self.epoch

    def seek(self, position: int, epoch: int) -> None:
        self.position, self.epoch = position, epoch


def feed_table(row_shape: tuple[int, ...] = (3,)) -> np.ndarray:
    return np.random.default_rng(7).normal(size=(Feed.ROWS, *row_shape))


@contextlib.contextmanager
def registered_feed() -> Iterator[None]:
    registry.register("SolverTestFeed")(Feed)
    try:
        yield
    finally:
        registry._LAYERS.pop("SolverTestFeed", None)
