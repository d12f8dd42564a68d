"""Shared by the fuzz, limits and security tests: small seed nets written here, and file builders.

Not a pytest conftest (pytest loads only conftest.py): import it as `tests.conftest_fuzz`.
"""

from __future__ import annotations

import contextlib
import io
import resource
import zipfile
from collections.abc import Iterable

import numpy as np

LENET = """name: "LeNet"
layer { name: "data" type: "Input" top: "data" top: "label"
        input_param { shape { dim: 2 dim: 1 dim: 12 dim: 12 } shape { dim: 2 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        param { lr_mult: 1 } param { lr_mult: 2 }
        convolution_param { num_output: 4 kernel_size: 3 stride: 1 weight_filler { type: "xavier" } } }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
        pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "ip1" type: "InnerProduct" bottom: "pool1" top: "ip1"
        inner_product_param { num_output: 8 weight_filler { type: "xavier" } } }
layer { name: "relu1" type: "ReLU" bottom: "ip1" top: "ip1" }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
        inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "accuracy" type: "Accuracy" bottom: "ip2" bottom: "label" top: "accuracy"
        include { phase: TEST } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }
"""

# One net touching most layer types, in small shapes, so that mutations reach their setup code.
MANY_LAYERS = """name: "many"
layer { name: "in" type: "Input" top: "x" top: "idx" top: "y"
        input_param { shape { dim: 2 dim: 4 dim: 6 dim: 6 } shape { dim: 2 dim: 3 }
                      shape { dim: 2 dim: 4 dim: 6 dim: 6 } } }
layer { name: "dummy" type: "DummyData" top: "d" dummy_data_param { shape { dim: 2 dim: 4 dim: 6 dim: 6 }
        data_filler { type: "uniform" min: -1 max: 1 } } }
layer { name: "sum" type: "Eltwise" bottom: "x" bottom: "d" top: "s"
        eltwise_param { operation: SUM coeff: 1 coeff: 2 } }
layer { name: "bn" type: "BatchNorm" bottom: "s" top: "bn" }
layer { name: "scale" type: "Scale" bottom: "bn" top: "sc" scale_param { bias_term: true } }
layer { name: "lrn" type: "LRN" bottom: "sc" top: "lrn" lrn_param { local_size: 3 alpha: 0.1 beta: 0.75 } }
layer { name: "prelu" type: "PReLU" bottom: "lrn" top: "pr" }
layer { name: "deconv" type: "Deconvolution" bottom: "pr" top: "dc"
        convolution_param { num_output: 2 kernel_size: 2 stride: 2 group: 2 weight_filler { type: "msra" } } }
layer { name: "crop" type: "Crop" bottom: "dc" bottom: "y" top: "cr" crop_param { axis: 2 offset: 1 } }
layer { name: "conv" type: "Convolution" bottom: "cr" top: "cv"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 dilation: 1 group: 2 } }
layer { name: "pool" type: "Pooling" bottom: "cv" top: "pl"
        pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "split" type: "Slice" bottom: "pl" top: "a" top: "b" slice_param { axis: 1 slice_point: 1 } }
layer { name: "cat" type: "Concat" bottom: "b" bottom: "a" top: "cat" concat_param { axis: 1 } }
layer { name: "tile" type: "Tile" bottom: "cat" top: "tl" tile_param { axis: 1 tiles: 2 } }
layer { name: "mvn" type: "MVN" bottom: "tl" top: "mvn" }
layer { name: "power" type: "Power" bottom: "mvn" top: "pw" power_param { power: 2 scale: 0.5 shift: 1 } }
layer { name: "drop" type: "Dropout" bottom: "pw" top: "pw" dropout_param { dropout_ratio: 0.3 } }
layer { name: "tanh" type: "TanH" bottom: "pw" top: "th" }
layer { name: "reshape" type: "Reshape" bottom: "th" top: "rs" reshape_param { shape { dim: 0 dim: -1 } } }
layer { name: "flat" type: "Flatten" bottom: "rs" top: "fl" }
layer { name: "ip" type: "InnerProduct" bottom: "fl" top: "ip" inner_product_param { num_output: 5 } }
layer { name: "sig" type: "Sigmoid" bottom: "ip" top: "sg" }
layer { name: "embed" type: "Embed" bottom: "idx" top: "em" embed_param { num_output: 5 input_dim: 4 } }
layer { name: "red" type: "Reduction" bottom: "em" top: "red" reduction_param { operation: SUMSQ axis: 1 } }
layer { name: "bias" type: "Bias" bottom: "sg" top: "bi" }
layer { name: "softmax" type: "Softmax" bottom: "bi" top: "sm" }
layer { name: "argmax" type: "ArgMax" bottom: "sm" top: "am" argmax_param { top_k: 2 } }
layer { name: "eu" type: "EuclideanLoss" bottom: "sm" bottom: "bi" top: "eu" }
layer { name: "silence" type: "Silence" bottom: "red" bottom: "am" }
"""

LENET_YAML = """name: LeNet
layer:
  - name: data
    type: Input
    top: [data, label]
    input_param:
      shape:
        - dim: [2, 1, 12, 12]
        - dim: [2]
  - name: conv1
    type: Convolution
    bottom: data
    top: conv1
    param: [{lr_mult: 1}, {lr_mult: 2}]
    convolution_param: {num_output: 4, kernel_size: 3, weight_filler: {type: xavier}}
  - name: pool1
    type: Pooling
    bottom: conv1
    top: pool1
    pooling_param: {pool: MAX, kernel_size: 2, stride: 2}
  - name: ip1
    type: InnerProduct
    bottom: pool1
    top: ip1
    inner_product_param:
      num_output: 8
      weight_filler: {type: gaussian, std: 0.1}
  - {name: relu1, type: ReLU, bottom: ip1, top: ip1}
  - name: loss
    type: SoftmaxWithLoss
    bottom: [ip1, label]
    top: loss
    loss_weight: 1
"""

LENET_V1 = """name: "LeNetV1"
input: "data"
input_dim: 2
input_dim: 1
input_dim: 12
input_dim: 12
layers { name: "conv1" type: CONVOLUTION bottom: "data" top: "conv1" blobs_lr: 1 blobs_lr: 2
         weight_decay: 1 weight_decay: 0
         convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "xavier" } } }
layers { name: "pool1" type: POOLING bottom: "conv1" top: "pool1"
         pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layers { name: "ip1" type: INNER_PRODUCT bottom: "pool1" top: "ip1" inner_product_param { num_output: 8 } }
layers { name: "relu1" type: RELU bottom: "ip1" top: "ip1" }
layers { name: "prob" type: SOFTMAX bottom: "ip1" top: "prob" }
"""

NET_V0 = """name: "NetV0"
input: "data"
input_dim: 2
input_dim: 1
input_dim: 12
input_dim: 12
layers { layer { name: "pad1" type: "padding" pad: 1 } bottom: "data" top: "pad1" }
layers { layer { name: "conv1" type: "conv" num_output: 4 kernelsize: 3 stride: 1
                 weight_filler { type: "gaussian" std: 0.01 } blobs_lr: 1 blobs_lr: 2 }
         bottom: "pad1" top: "conv1" }
layers { layer { name: "relu1" type: "relu" } bottom: "conv1" top: "conv1" }
layers { layer { name: "pool1" type: "pool" pool: MAX kernelsize: 2 stride: 2 } bottom: "conv1" top: "pool1" }
layers { layer { name: "ip1" type: "innerproduct" num_output: 3 } bottom: "pool1" top: "ip1" }
layers { layer { name: "prob" type: "softmax" } bottom: "ip1" top: "prob" }
"""

SOLVER = """net_param { layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 1 dim: 2 } } } }
test_iter: 2
test_interval: 10
base_lr: 0.01
lr_policy: "step"
gamma: 0.1
stepsize: 100
momentum: 0.9
weight_decay: 0.0005
max_iter: 1000
snapshot: 500
snapshot_prefix: "out/lenet"
solver_type: SGD
"""


def npy_bytes(descr: str, shape: Iterable[int], payload: bytes = b"", fortran_order: bool = False) -> bytes:
    """A .npy file whose header declares `descr` and `shape` (whatever they are), followed by `payload`."""
    buffer = io.BytesIO()
    header = {"descr": descr, "fortran_order": fortran_order, "shape": tuple(shape)}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + payload


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    """An .npz-like zip archive of the given members (names as given: add '.npy' yourself)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@contextlib.contextmanager
def address_space_cap(headroom: int):
    """Cap this process's address space at its current size plus `headroom` bytes, so that an
    allocation beyond it fails with a MemoryError instead of exhausting the machine (Linux only:
    elsewhere there is no cap)."""
    try:
        with open("/proc/self/statm") as statm:
            in_use = int(statm.read().split()[0]) * resource.getpagesize()
    except OSError:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = in_use + headroom if hard == resource.RLIM_INFINITY else min(in_use + headroom, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
