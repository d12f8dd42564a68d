"""Real corpus nets exported to ONNX and run in onnxruntime give protonet's outputs: deploy nets with random
weights (at batch 1, small inputs where the net allows), and every real caffemodel with its own net.

`python -m tests.test_onnx_corpus [--all]` prints the largest relative difference of each (the README's table;
`--all`: of every other deploy net protonet builds too).
"""

from __future__ import annotations

import numpy as np
import pytest

from protonet.net import Net
from protonet.onnx_export import to_onnx
from protonet.proto import pb

from .onnx_check import compare, random_inputs, randomize
from .test_corpus import CAFFEMODELS, CORPUS, EXPECTED_TO_BUILD, needs_corpus, prepared_param

# Deploy nets (corpus paths) and the input size they are exported and run at (batch 1).
DEPLOY_NETS = {
    "BVLC__caffe/models/bvlc_googlenet/deploy.prototxt": (1, 3, 224, 224),
    "forresti__SqueezeNet/SqueezeNet_v1.0/deploy.prototxt": (1, 3, 227, 227),
    "forresti__SqueezeNet/SqueezeNet_v1.1/deploy.prototxt": (1, 3, 131, 131),
    "KaimingHe__deep-residual-networks/prototxt/ResNet-50-deploy.prototxt": (1, 3, 224, 224),
    "shicai__MobileNet-Caffe/mobilenet_deploy.prototxt": (1, 3, 131, 131),
    "shicai__MobileNet-Caffe/mobilenet_v2_deploy.prototxt": (1, 3, 131, 131),
    "shicai__DenseNet-Caffe/DenseNet_121.prototxt": (1, 3, 99, 99),
    "soeaver__caffe-model/cls/inception/deploy_inception-v3.prototxt": (1, 3, 139, 139),
    "soeaver__caffe-model/cls/resnext/deploy_resnext50-32x4d.prototxt": (1, 3, 99, 99),
    "natanielruiz__net-archive/holistically-nested/deploy.prototxt": (1, 3, 67, 53),
    "natanielruiz__net-archive/age_gender/deploy_age.prototxt": (1, 3, 227, 227),
}
LABEL_LAYERS = ("Accuracy", "SoftmaxWithLoss")


def logits(net: Net) -> tuple[str, ...]:
    """The inputs of the Softmax layers that give outputs: random weights often saturate the probabilities, the
    scores before them say more."""
    return tuple(bottoms[0] for layer, bottoms, tops in zip(net.layers, net.bottom_names, net.top_names)
                 if layer.type == "Softmax" and tops[0] in net.outputs and bottoms[0] not in net.inputs)


def deploy_net(rel: str, shape: tuple[int, ...]) -> Net:
    param = prepared_param(rel)
    input_layer = next(layer for layer in param.layer if layer.type == "Input")
    input_layer.input_param.shape[0].dim[:] = shape
    return Net(param, channels_last=False)


def inference_net(rel: str) -> Net:
    """A caffemodel's net for inference: test_corpus's TEST net (data layers as Inputs, batch 1) without the
    layers that need labels, and without the label inputs."""
    param = prepared_param(rel)
    kept = [layer for layer in param.layer if layer.type not in LABEL_LAYERS]
    used = {bottom for layer in kept for bottom in layer.bottom}
    out = pb.NetParameter(name=param.name)
    for layer in kept:
        copy = out.layer.add()
        copy.CopyFrom(layer)
        if layer.type == "Input":
            tops = [(top, shape) for top, shape in zip(layer.top, layer.input_param.shape) if top in used]
            copy.ClearField("top")
            copy.input_param.ClearField("shape")
            for top, shape in tops:
                copy.top.append(top)
                copy.input_param.shape.add().CopyFrom(shape)
    return Net(out, CORPUS / next(m for m, n in CAFFEMODELS.items() if n == rel), channels_last=False)


def deploy_difference(rel: str) -> float:
    needs_corpus()
    net = deploy_net(rel, DEPLOY_NETS[rel])
    rng = np.random.default_rng(7)
    randomize(net, rng)
    return compare(net, to_onnx(net), random_inputs(net, rng), logits(net))


def caffemodel_difference(model: str) -> float:
    needs_corpus()
    net = inference_net(CAFFEMODELS[model])
    rng = np.random.default_rng(11)
    feeds = {name: rng.uniform(0, 1, net.blobs[name].shape).astype(np.float32) for name in net.inputs}
    return compare(net, to_onnx(net), feeds, logits(net))


@pytest.mark.parametrize("rel", sorted(DEPLOY_NETS))
def test_deploy_net_runs_in_onnxruntime_as_in_protonet(rel: str) -> None:
    assert deploy_difference(rel) < 1e-4


@pytest.mark.parametrize("model", sorted(CAFFEMODELS))
def test_real_caffemodel_runs_in_onnxruntime_as_in_protonet(model: str) -> None:
    assert caffemodel_difference(model) < 1e-4


def other_deploy_nets() -> dict[str, tuple[int, ...]]:
    """The corpus nets protonet builds whose TEST net needs no labels and that the tests above leave out, at their
    own input size with batch 1 (FCN-8s at 64 x 64): `--all` adds them to the printout."""
    nets = {}
    for rel in EXPECTED_TO_BUILD:
        param = prepared_param(rel)
        labels = any(layer.type in LABEL_LAYERS or layer.type.endswith("Loss") for layer in param.layer)
        if rel in DEPLOY_NETS or labels:
            continue
        shape = next(layer for layer in param.layer if layer.type == "Input").input_param.shape[0].dim
        nets[rel] = (1, *shape[1:2], 64, 64) if "fcn" in rel else (1, *shape[1:])
    return nets


if __name__ == "__main__":
    import sys

    for rel, shape in {**DEPLOY_NETS, **(other_deploy_nets() if "--all" in sys.argv else {})}.items():
        DEPLOY_NETS[rel] = shape
        print(f"{deploy_difference(rel):.1e}  {rel} {shape}", flush=True)
    for model in CAFFEMODELS:
        print(f"{caffemodel_difference(model):.1e}  {model}", flush=True)
