"""pycaffe's API over protonet: `import protonet.caffe as caffe` runs scripts written for pycaffe.

    import protonet.caffe as caffe
    from protonet.caffe import layers as L, params as P
    net = caffe.Net("deploy.prototxt", caffe.TEST, weights="model.caffemodel")
    net.blobs["data"].data[...] = image
    probs = net.forward()["prob"]
    solver = caffe.SGDSolver("solver.prototxt")
    solver.step(100)

What is and is not supported: README.md, section "pycaffe scripts".
"""

from .. import __version__
from ..proto import pb
from . import io, proto
from .classifier import Classifier, Detector
from .net import Net
from .net_spec import NetSpec, layers, params, to_proto
from .runtime import (
    Layer,
    allow_python_layers,
    check_mode_cpu,
    check_mode_gpu,
    layer_type_list,
    set_device,
    set_mode_cpu,
    set_mode_gpu,
    set_random_seed,
)
from .solver import (
    AdaDeltaSolver,
    AdaGradSolver,
    AdamSolver,
    NesterovSolver,
    RMSPropSolver,
    SGDSolver,
    Solver,
    get_solver,
)

TRAIN, TEST = pb.TRAIN, pb.TEST

__all__ = ["TEST", "TRAIN", "AdaDeltaSolver", "AdaGradSolver", "AdamSolver", "Classifier", "Detector", "Layer",
           "Net", "NesterovSolver", "NetSpec", "RMSPropSolver", "SGDSolver", "Solver", "__version__",
           "allow_python_layers", "check_mode_cpu", "check_mode_gpu", "get_solver", "io", "layer_type_list",
           "layers", "params", "proto", "set_device", "set_mode_cpu", "set_mode_gpu", "set_random_seed",
           "to_proto"]
