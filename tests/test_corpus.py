"""Every real Caffe .prototxt in ../shared/corpus: classify, parse, upgrade, build in TEST phase.

Data layers are replaced by Input layers of the shapes in INPUT_SHAPES (batch 1). Each net
either builds or fails with a ProtonetError, never another exception; the nets that build are
listed exactly in EXPECTED_TO_BUILD, so a regression (or a newly building net) fails a test.
`python -m tests.test_corpus` prints the summary and the current list.
"""

from __future__ import annotations

import fnmatch
import gzip
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from protonet.config import load_net, load_solver, read_text
from protonet.errors import ConfigError, ProtonetError
from protonet.layers.registry import layer_types
from protonet.net import Net, filter_net
from protonet.proto import pb
from protonet.weights import read_weights

from .conftest import SHARED

CORPUS = SHARED / "corpus"

# Layer types a test replaces by Input layers (after the V1 -> current upgrade).
DATA_TYPES = {"Data", "ImageData", "HDF5Data", "WindowData", "MemoryData", "AnnotatedData"}

# Input shapes (batch 1) of the data layers' tops, by file pattern; a top not named here is a
# label of shape (1,). Sources: the deploy prototxt beside each file (lenet.prototxt: 1x28x28;
# cifar10_quick.prototxt: 3x32x32; vanilla_deploy.prototxt: 3x40x40), the hdf5_classification
# example's 4 features, 5 (x, y) facial landmarks. A data layer with a transform_param crop_size
# gets 3 x crop x crop (every cropped source in the corpus is an RGB image set).
INPUT_SHAPES: dict[str, dict[str, tuple[int, ...]]] = {
    "*/mnist/lenet_train_test.prototxt": {"data": (1, 1, 28, 28)},
    "*/lenet/lenet_t*.prototxt": {"data": (1, 1, 28, 28)},
    "nandahkrishna__CaffeMNIST/lenet_train_test.prototxt": {"data": (1, 1, 28, 28)},
    "*/mnist/mnist_autoencoder.prototxt": {"data": (1, 1, 28, 28)},
    "*/siamese/mnist_siamese_train_test.prototxt": {"pair_data": (1, 2, 28, 28)},
    "*/cifar10/cifar10_*train_test*.prototxt": {"data": (1, 3, 32, 32)},
    "natanielruiz__net-archive/nin-cifar10/train_val.prototxt": {"data": (1, 3, 32, 32)},
    "rai-project__go-caffe/_fixtures/nin_model.prototxt": {"data": (1, 3, 32, 32)},
    "*/hdf5_classification/*.prototxt": {"data": (1, 4)},
    "natanielruiz__net-archive/facial-landmark/vanilla_train.prototxt": {"X": (1, 3, 40, 40),
                                                                         "landmarks": (1, 10)},
    "natanielruiz__net-archive/sequence-to-sequence/s2vt.prototxt": {  # 80 steps x 32 streams (its comments)
        **dict.fromkeys(("cont_sentence", "input_sentence", "target_sentence", "stage_indicator"), (80, 32)),
        "frame_fc7": (80, 32, 4096)},
}
# Stages a net needs in TEST phase (its solver's test_state).
STAGES = {"*/mnist/mnist_autoencoder.prototxt": ("test-on-test",),
          "*/s2vt.prototxt": ("factored", "2-layer", "test-on-val")}

# Nets (paths relative to the corpus) that build today. Keep it exact: update it when layers land.
EXPECTED_TO_BUILD: list[str] = [
    "BVLC__caffe/examples/cifar10/cifar10_full.prototxt",
    "BVLC__caffe/examples/cifar10/cifar10_full_sigmoid_train_test.prototxt",
    "BVLC__caffe/examples/cifar10/cifar10_full_sigmoid_train_test_bn.prototxt",
    "BVLC__caffe/examples/cifar10/cifar10_full_train_test.prototxt",
    "BVLC__caffe/examples/cifar10/cifar10_quick.prototxt",
    "BVLC__caffe/examples/cifar10/cifar10_quick_train_test.prototxt",
    "BVLC__caffe/examples/feature_extraction/imagenet_val.prototxt",
    "BVLC__caffe/examples/finetune_pascal_detection/pascal_finetune_trainval_test.prototxt",
    "BVLC__caffe/examples/hdf5_classification/nonlinear_auto_test.prototxt",
    "BVLC__caffe/examples/hdf5_classification/nonlinear_auto_train.prototxt",
    "BVLC__caffe/examples/hdf5_classification/nonlinear_train_val.prototxt",
    "BVLC__caffe/examples/hdf5_classification/train_val.prototxt",
    "BVLC__caffe/examples/mnist/lenet.prototxt",
    "BVLC__caffe/examples/mnist/lenet_train_test.prototxt",
    "BVLC__caffe/examples/mnist/mnist_autoencoder.prototxt",
    "BVLC__caffe/examples/net_surgery/bvlc_caffenet_full_conv.prototxt",
    "BVLC__caffe/examples/net_surgery/conv.prototxt",
    "BVLC__caffe/examples/siamese/mnist_siamese.prototxt",
    "BVLC__caffe/examples/siamese/mnist_siamese_train_test.prototxt",
    "BVLC__caffe/models/bvlc_alexnet/deploy.prototxt",
    "BVLC__caffe/models/bvlc_alexnet/train_val.prototxt",
    "BVLC__caffe/models/bvlc_googlenet/deploy.prototxt",
    "BVLC__caffe/models/bvlc_googlenet/train_val.prototxt",
    "BVLC__caffe/models/bvlc_reference_caffenet/deploy.prototxt",
    "BVLC__caffe/models/bvlc_reference_caffenet/train_val.prototxt",
    "BVLC__caffe/models/bvlc_reference_rcnn_ilsvrc13/deploy.prototxt",
    "BVLC__caffe/models/finetune_flickr_style/deploy.prototxt",
    "BVLC__caffe/models/finetune_flickr_style/train_val.prototxt",
    "BVLC__caffe@rc-v1format/examples/cifar10/cifar10_full.prototxt",
    "BVLC__caffe@rc-v1format/examples/cifar10/cifar10_full_train_test.prototxt",
    "BVLC__caffe@rc-v1format/examples/cifar10/cifar10_quick.prototxt",
    "BVLC__caffe@rc-v1format/examples/cifar10/cifar10_quick_train_test.prototxt",
    "BVLC__caffe@rc-v1format/examples/feature_extraction/imagenet_val.prototxt",
    "BVLC__caffe@rc-v1format/examples/finetune_pascal_detection/pascal_finetune_train.prototxt",
    "BVLC__caffe@rc-v1format/examples/finetune_pascal_detection/pascal_finetune_val.prototxt",
    "BVLC__caffe@rc-v1format/examples/hdf5_classification/train_val.prototxt",
    "BVLC__caffe@rc-v1format/examples/hdf5_classification/train_val2.prototxt",
    "BVLC__caffe@rc-v1format/examples/imagenet/bvlc_caffenet_full_conv.prototxt",
    "BVLC__caffe@rc-v1format/examples/mnist/lenet.prototxt",
    "BVLC__caffe@rc-v1format/examples/mnist/lenet_train_test.prototxt",
    "BVLC__caffe@rc-v1format/examples/mnist/mnist_autoencoder.prototxt",
    "BVLC__caffe@rc-v1format/examples/siamese/mnist_siamese.prototxt",
    "BVLC__caffe@rc-v1format/examples/siamese/mnist_siamese_train_test.prototxt",
    "BVLC__caffe@rc-v1format/models/bvlc_alexnet/deploy.prototxt",
    "BVLC__caffe@rc-v1format/models/bvlc_alexnet/train_val.prototxt",
    "BVLC__caffe@rc-v1format/models/bvlc_reference_caffenet/deploy.prototxt",
    "BVLC__caffe@rc-v1format/models/bvlc_reference_caffenet/train_val.prototxt",
    "BVLC__caffe@rc-v1format/models/bvlc_reference_rcnn_ilsvrc13/deploy.prototxt",
    "BVLC__caffe@rc-v1format/models/finetune_flickr_style/train_val.prototxt",
    "BVLC__caffe@v0.9-v0format/examples/imagenet/imagenet_train.prototxt",
    "BVLC__caffe@v0.9-v0format/examples/imagenet/imagenet_val.prototxt",
    "BVLC__caffe@v0.9-v0format/examples/lenet/lenet.prototxt",
    "BVLC__caffe@v0.9-v0format/examples/lenet/lenet_test.prototxt",
    "BVLC__caffe@v0.9-v0format/examples/lenet/lenet_train.prototxt",
    "BVLC__caffe@v0.9-v0format/models/imagenet.prototxt",
    "KaimingHe__deep-residual-networks/prototxt/ResNet-101-deploy.prototxt",
    "KaimingHe__deep-residual-networks/prototxt/ResNet-152-deploy.prototxt",
    "KaimingHe__deep-residual-networks/prototxt/ResNet-50-deploy.prototxt",
    "ethereon__caffe-tensorflow/examples/mnist/lenet.prototxt",
    "everpeace__caffe/examples/cifar10/cifar10_full.prototxt",
    "everpeace__caffe/examples/cifar10/cifar10_full_train_test.prototxt",
    "everpeace__caffe/examples/cifar10/cifar10_quick.prototxt",
    "everpeace__caffe/examples/cifar10/cifar10_quick_train_test.prototxt",
    "everpeace__caffe/examples/mnist/lenet.prototxt",
    "everpeace__caffe/examples/mnist/lenet_train_test.prototxt",
    "forresti__SqueezeNet/SqueezeNet_v1.0/deploy.prototxt",
    "forresti__SqueezeNet/SqueezeNet_v1.0/train_val.prototxt",
    "forresti__SqueezeNet/SqueezeNet_v1.1/deploy.prototxt",
    "forresti__SqueezeNet/SqueezeNet_v1.1/train_val.prototxt",
    "kpzhang93__MTCNN_face_detection_alignment/code/codes/MTCNNv2/model/det1.prototxt",
    "kpzhang93__MTCNN_face_detection_alignment/code/codes/MTCNNv2/model/det2.prototxt",
    "kpzhang93__MTCNN_face_detection_alignment/code/codes/MTCNNv2/model/det3.prototxt",
    "kpzhang93__MTCNN_face_detection_alignment/code/codes/MTCNNv2/model/det4.prototxt",
    "nandahkrishna__CaffeMNIST/lenet_train_test.prototxt",
    "natanielruiz__net-archive/age_gender/age_train_val.prototxt",
    "natanielruiz__net-archive/age_gender/deploy_age.prototxt",
    "natanielruiz__net-archive/age_gender/deploy_gender.prototxt",
    "natanielruiz__net-archive/facial-landmark/vanilla_deploy.prototxt",
    "natanielruiz__net-archive/googlenet_cars/deploy.prototxt",
    "natanielruiz__net-archive/hash-codes/deploy_CIFAR10_48.prototxt",
    "natanielruiz__net-archive/hash-codes/train_CIFAR10_48.prototxt",
    "natanielruiz__net-archive/holistically-nested/deploy.prototxt",
    "natanielruiz__net-archive/nin-cifar10/train_val.prototxt",
    "natanielruiz__net-archive/nin_imagenet/train_val.prototxt",
    "natanielruiz__net-archive/places205-alexnet/places205CNN_deploy.prototxt",
    "natanielruiz__net-archive/vgg_cnn_m/VGG_CNN_M_deploy.prototxt",
    "natanielruiz__net-archive/vgg_cnn_s/VGG_CNN_S_deploy.prototxt",
    "natanielruiz__net-archive/vgg_ilsvrc_16/VGG_ILSVRC_16_layers_deploy.prototxt",
    "natanielruiz__net-archive/vgg_ilsvrc_19/VGG_ILSVRC_19_layers_deploy.prototxt",
    "rai-project__go-caffe/_fixtures/nin_model.prototxt",
    "shelhamer__fcn.berkeleyvision.org/voc-fcn8s/deploy.prototxt",
    "shicai__DenseNet-Caffe/DenseNet_121.prototxt",
    "shicai__DenseNet-Caffe/DenseNet_161.prototxt",
    "shicai__DenseNet-Caffe/DenseNet_169.prototxt",
    "shicai__DenseNet-Caffe/DenseNet_201.prototxt",
    "shicai__MobileNet-Caffe/mobilenet_deploy.prototxt",
    "shicai__MobileNet-Caffe/mobilenet_v2_deploy.prototxt",
    "soeaver__caffe-model/cls/air/deploy_air50-1x16d.prototxt",
    "soeaver__caffe-model/cls/dpn/deploy_dpn92.prototxt",
    "soeaver__caffe-model/cls/inception/deploy_inception-resnet-v2.prototxt",
    "soeaver__caffe-model/cls/inception/deploy_inception-v2.prototxt",
    "soeaver__caffe-model/cls/inception/deploy_inception-v3.prototxt",
    "soeaver__caffe-model/cls/inception/deploy_inception-v4.prototxt",
    "soeaver__caffe-model/cls/inception/deploy_xception.prototxt",
    "soeaver__caffe-model/cls/resnet/deploy_resnet18-priv.prototxt",
    "soeaver__caffe-model/cls/resnet-v2/deploy_resnet101-v2.prototxt",
    "soeaver__caffe-model/cls/resnext/deploy_resnext50-32x4d.prototxt",
    "soeaver__caffe-model/cls/vgg/deploy_vgg16-pytorch.prototxt",
    "soeaver__caffe-model/cls/vgg/deploy_vgg16-tf.prototxt",
    "soeaver__caffe-model/cls/vgg/deploy_vgg19bn-pytorch.prototxt",
    "soeaver__caffe-model/cls/wider-resnet/deploy_wrn50-2.prototxt",
]

# Caffemodels and the net each was trained with (SOURCES.md).
MTCNN = "kpzhang93__MTCNN_face_detection_alignment/code/codes/MTCNNv2/model"
CAFFEMODELS = {
    "ethereon__caffe-tensorflow/examples/mnist/lenet_iter_10000.caffemodel":
        "ethereon__caffe-tensorflow/examples/mnist/lenet.prototxt",
    "everpeace__caffe/examples/cifar10/cifar10_full_iter_70000.caffemodel":
        "everpeace__caffe/examples/cifar10/cifar10_full.prototxt",
    "everpeace__caffe/examples/cifar10/cifar10_quick_iter_5000.caffemodel":
        "everpeace__caffe/examples/cifar10/cifar10_quick.prototxt",
    "everpeace__caffe/examples/mnist/lenet_iter_10000.caffemodel":
        "everpeace__caffe/examples/mnist/lenet.prototxt",
    **{f"{MTCNN}/det{i}.caffemodel": f"{MTCNN}/det{i}.prototxt" for i in range(1, 5)},
    "nandahkrishna__CaffeMNIST/lenet_iter_10000.caffemodel":
        "nandahkrishna__CaffeMNIST/lenet_train_test.prototxt",
    "rai-project__go-caffe/_fixtures/cifar10_nin.caffemodel":
        "rai-project__go-caffe/_fixtures/nin_model.prototxt",
}

SOLVER_KEYS = {"net", "net_param", "train_net", "train_net_param", "test_net", "base_lr", "lr_policy",
               "solver_type", "max_iter"}
NET_KEYS = {"layer", "layers", "input"}


# ------------------------------------------------------------------ classification


def top_level_keys(text: str) -> set[str]:
    """Field names at brace depth 0 of a protobuf text file (comments and strings ignored)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|#[^\n]*', " ", text)
    keys, depth = set(), 0
    for token in re.finditer(r"([A-Za-z_]\w*)\s*(?=[:{])|[{}]", text):
        if token.group(0) == "{":
            depth += 1
        elif token.group(0) == "}":
            depth -= 1
        elif depth == 0:
            keys.add(token.group(1))
    return keys


def classify(text: str) -> str:
    keys = top_level_keys(text)
    if keys & SOLVER_KEYS:
        return "solver"
    return "net" if keys & NET_KEYS else "other"


def _match(table: dict, rel: str, default):
    return next((value for pattern, value in table.items() if fnmatch.fnmatch(rel, pattern)), default)


@cache
def corpus_files() -> dict[str, str]:
    """Relative path -> kind, for every .prototxt in the corpus (empty when it is absent)."""
    if not CORPUS.is_dir():
        return {}
    return {str(p.relative_to(CORPUS)): classify(read_text(p)) for p in sorted(CORPUS.rglob("*.prototxt"))}


def nets() -> list[str]:
    return [rel for rel, kind in corpus_files().items() if kind == "net"]


def solvers() -> list[str]:
    return [rel for rel, kind in corpus_files().items() if kind == "solver"]


# ------------------------------------------------------------------ building


def reason(exc: ProtonetError) -> str:
    """The error without its file path (the summary is per file already)."""
    layer = f"layer '{exc.layer}': " if exc.layer else ""
    return f"{layer}{exc.message}" + (f"; {exc.hint}" if exc.hint else "")


def prepared_param(rel: str) -> pb.NetParameter:
    """The upgraded net, TEST-phase layers only, data layers replaced by Input layers."""
    param = load_net(CORPUS / rel)
    state = pb.NetState(phase=pb.TEST, stage=_match(STAGES, rel, ()))
    param = filter_net(param, state)
    shapes = _match(INPUT_SHAPES, rel, {})
    for i, layer in enumerate(param.layer):
        if layer.type not in DATA_TYPES or not layer.name:  # unnamed: let the net report it as it is
            continue
        crop = layer.transform_param.crop_size
        data_shape = (1, 3, crop, crop) if crop else None
        replacement = pb.LayerParameter(name=layer.name, type="Input", top=layer.top)
        for k, top in enumerate(layer.top):
            shape = shapes.get(top) or (data_shape if k == 0 else (1,))
            if shape is None:
                raise AssertionError(f"{rel}: no input shape for top '{top}' of {layer.type} layer "
                                     f"'{layer.name}': add it to INPUT_SHAPES")
            replacement.input_param.shape.add(dim=shape)
        param.layer[i].CopyFrom(replacement)
    return param


@dataclass
class Outcome:
    net: Net | None = None
    error: str | None = None
    missing: set[str] = field(default_factory=set)  # layer types of the net that protonet lacks


def build(rel: str) -> Outcome:
    try:
        param = prepared_param(rel)
        missing = {layer.type for layer in param.layer} - set(layer_types())
        try:
            return Outcome(net=Net(param, phase="TEST", stages=_match(STAGES, rel, ())), missing=missing)
        except ProtonetError as exc:
            return Outcome(error=reason(exc), missing=missing)
    except ProtonetError as exc:
        return Outcome(error=reason(exc))
    except Exception as exc:  # noqa: BLE001 - what this test exists to catch
        return Outcome(error=f"CRASH {type(exc).__name__}: {exc}")


@cache
def outcomes() -> dict[str, Outcome]:
    logger = logging.getLogger("protonet")
    level = logger.level
    logger.setLevel(logging.ERROR)  # no upgrade notes for the 50 legacy files
    try:
        # Keep no built net: holding them all (VGG: 0.5 GB each) would exhaust memory.
        return {rel: Outcome(error=o.error, missing=o.missing) for rel, o in ((r, build(r)) for r in nets())}
    finally:
        logger.setLevel(level)


def summary(results: dict[str, Outcome]) -> str:
    built = [rel for rel, o in results.items() if o.error is None]
    lines = [f"{len(built)} of {len(results)} nets build"]
    blockers = Counter(t for o in results.values() if o.error for t in o.missing)
    if blockers:
        lines.append("missing layer types (files needing each): "
                     + ", ".join(f"{t} ({n})" for t, n in blockers.most_common()))
    for rel, o in results.items():
        if o.error:
            lines.append(f"  {rel}: {o.error}")
    return "\n".join(lines)


def needs_corpus() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"{CORPUS} is not available")


# ------------------------------------------------------------------ tests


def test_classification_matches_sources_md() -> None:
    needs_corpus()
    kinds = Counter(corpus_files().values())
    assert kinds == {"net": 130, "solver": 67, "other": 1}  # SOURCES.md "Counts" (+ the SSD labelmap)


def test_every_solver_parses() -> None:
    """Every solver loads; the SSD fork's 3 fail naming the fork (eval_type)."""
    needs_corpus()
    failed = {}
    for rel in solvers():
        try:
            solver = load_solver(CORPUS / rel)
            assert not solver.HasField("solver_type")
            for net in [solver.net_param, solver.train_net_param, *solver.test_net_param]:
                assert not net.layers
        except ConfigError as exc:
            failed[rel] = str(exc)
    assert sorted(failed) == [f"chuanqi305__MobileNet-SSD/{name}.prototxt"
                              for name in ("solver_test", "solver_train", "voc/solver")]
    assert all("eval_type" in msg and "SSD" in msg for msg in failed.values())


def test_every_net_builds_or_fails_with_a_protonet_error() -> None:
    needs_corpus()
    results = outcomes()
    print("\n" + summary(results))
    crashes = {rel: o.error for rel, o in results.items() if o.error and o.error.startswith("CRASH")}
    assert not crashes


def test_exactly_the_expected_nets_build() -> None:
    needs_corpus()
    results = outcomes()
    built = {rel for rel, o in results.items() if o.error is None}
    regressions = {rel: results[rel].error for rel in EXPECTED_TO_BUILD if rel not in built}
    assert not regressions, f"nets that no longer build: {regressions}"
    new = sorted(built - set(EXPECTED_TO_BUILD))
    assert not new, f"nets that now build, add them to EXPECTED_TO_BUILD: {new}"


def test_fork_files_name_their_fork() -> None:
    needs_corpus()
    forks = {"chuanqi305__MobileNet-SSD/*": "SSD (weiliu89/caffe)",
             "*/holistically-nested/train_val.prototxt": "HED (s9xie/hed)"}
    named = {rel: _match(forks, rel, None) for rel in nets()}
    assert sum(fork is not None for fork in named.values()) == 6
    for rel, fork in named.items():
        if fork:
            assert f"Caffe fork {fork}" in outcomes()[rel].error, rel


# ------------------------------------------------------------------ shapes against Caffe


def built_net(rel: str) -> Net:
    """The net of `rel`, built; a skip naming the layer types protonet does not have yet."""
    needs_corpus()
    outcome = build(rel)
    if outcome.net is None:
        if outcome.missing:
            pytest.skip(f"layer types not implemented yet: {sorted(outcome.missing)}")
        pytest.fail(outcome.error)
    return outcome.net


def shapes_of(net: Net, names: list[str]) -> dict[str, tuple[int, ...]]:
    return {name: tuple(net.blobs[name].shape) for name in names}


@pytest.mark.parametrize("rel", ["BVLC__caffe/examples/mnist/lenet.prototxt",
                                 "everpeace__caffe/examples/mnist/lenet.prototxt",
                                 "BVLC__caffe@v0.9-v0format/examples/lenet/lenet.prototxt"])
def test_lenet_shapes_and_parameter_count(rel: str) -> None:
    net = built_net(rel)
    batch = net.blobs["data"].shape[0]
    expected = {"conv1": (20, 24, 24), "pool1": (20, 12, 12), "conv2": (50, 8, 8), "pool2": (50, 4, 4),
                "ip1": (500,), "ip2": (10,)}
    assert shapes_of(net, list(expected)) == {k: (batch, *v) for k, v in expected.items()}
    assert sum(p.blob.count for p in net.learnable) == 431_080


def test_caffenet_shapes_and_parameter_count() -> None:
    net = built_net("BVLC__caffe/models/bvlc_reference_caffenet/deploy.prototxt")
    expected = {"conv1": (10, 96, 55, 55), "pool1": (10, 96, 27, 27), "conv2": (10, 256, 27, 27),
                "pool2": (10, 256, 13, 13), "conv5": (10, 256, 13, 13), "pool5": (10, 256, 6, 6),
                "fc6": (10, 4096), "prob": (10, 1000)}
    assert shapes_of(net, list(expected)) == expected
    assert sum(p.blob.count for p in net.learnable) == 60_965_224


def test_resnet50_shapes() -> None:
    net = built_net("KaimingHe__deep-residual-networks/prototxt/ResNet-50-deploy.prototxt")
    expected = {"conv1": (1, 64, 112, 112), "pool1": (1, 64, 56, 56), "res2c": (1, 256, 56, 56),
                "res3d": (1, 512, 28, 28), "res4f": (1, 1024, 14, 14), "res5c": (1, 2048, 7, 7),
                "pool5": (1, 2048, 1, 1), "prob": (1, 1000)}
    assert shapes_of(net, list(expected)) == expected


@pytest.mark.parametrize("version, sizes", [
    ("1.0", {"conv1": 111, "pool1": 55, "pool4": 27, "pool8": 13, "conv10": 15}),
    ("1.1", {"conv1": 113, "pool1": 56, "pool3": 28, "pool5": 14, "conv10": 14})])
def test_squeezenet_shapes(version: str, sizes: dict[str, int]) -> None:
    """Caffe's pooling rounds up: v1.1's 3x3/2 pools give 113 -> 56 -> 28 -> 14; v1.0's conv10 has pad 1."""
    net = built_net(f"forresti__SqueezeNet/SqueezeNet_v{version}/deploy.prototxt")
    first = 96 if version == "1.0" else 64
    channels = {"conv1": first, "pool1": first, "pool3": 128, "pool4": 256, "pool5": 256, "pool8": 512,
                "conv10": 1000}
    assert shapes_of(net, list(sizes)) == {k: (10, channels[k], s, s) for k, s in sizes.items()}
    assert net.blobs["prob"].shape == (10, 1000, 1, 1)


# ------------------------------------------------------------------ caffemodels


@pytest.mark.parametrize("model", sorted(CAFFEMODELS))
def test_caffemodel_loads_into_its_net(model: str) -> None:
    net = built_net(CAFFEMODELS[model])
    source = read_weights(CORPUS / model)
    copied = net.copy_from(CORPUS / model)
    assert sorted(copied) == sorted(net.params)
    for name in copied:
        for array, blob in zip(source[name], net.params[name], strict=True):
            np.testing.assert_array_equal(blob.data, array.reshape(blob.shape))


def read_idx(path: Path) -> np.ndarray:
    data = gzip.decompress(path.read_bytes())
    ndim = data[3]
    dims = np.frombuffer(data, ">u4", ndim, 4)
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def test_v1_lenet_caffemodel_classifies_mnist(mnist_dir: Path) -> None:
    """The 2014 V1 caffemodel, through its upgraded V1 prototxt, on the first 200 test digits."""
    net = built_net("everpeace__caffe/examples/mnist/lenet.prototxt")
    net.copy_from(CORPUS / "everpeace__caffe/examples/mnist/lenet_iter_10000.caffemodel")
    images = read_idx(mnist_dir / "t10k-images-idx3-ubyte.gz")[:200]
    labels = read_idx(mnist_dir / "t10k-labels-idx1-ubyte.gz")[:200]
    prob = net.forward(data=(images[:, None] * np.float32(0.00390625)).astype(np.float32))["prob"]
    assert prob.shape == (200, 10)
    assert (prob.argmax(axis=1) == labels).mean() >= 0.97


if __name__ == "__main__":
    found = outcomes()
    print(summary(found))
    print("EXPECTED_TO_BUILD: list[str] = [")
    print("\n".join(f'    "{rel}",' for rel, o in found.items() if o.error is None))
    print("]")


# ------------------------------------------------------------------ channels-last nets compute the same


def test_channels_last_nets_give_the_outputs_of_caffe_order_nets() -> None:
    """Every built corpus net of up to 1M activation values, with the same random weights and inputs, in
    both memory layouts: the same outputs (float32 rounding aside). Backward is compared in test_net
    and the layer tests: across deep nets a max-pooling near-tie may route a gradient differently."""
    needs_corpus()
    compared = 0
    for rel in (rel for rel, outcome in outcomes().items() if outcome.error is None):
        param, stages = prepared_param(rel), _match(STAGES, rel, ())
        caffe_order = Net(param, phase="TEST", stages=stages, seed=0, channels_last=False)
        if sum(blob.count for blob in caffe_order.blobs.values()) > 1_000_000:
            continue
        nets = [caffe_order, Net(param, phase="TEST", stages=stages, seed=0)]
        rng = np.random.default_rng(0)
        for theirs, mine in zip(nets[0].learnable, nets[1].learnable, strict=True):  # positive: BatchNorm's
            fan_in = theirs.blob.count // max(theirs.blob.shape[0], 1) if theirs.blob.num_axes > 1 else 1
            theirs.blob.data = mine.blob.data = np.abs(rng.standard_normal(theirs.blob.shape)) / fan_in
        inputs = {name: (rng.random if nets[0].blobs[name].num_axes > 1 else np.zeros)(nets[0].blobs[name].shape)
                  for name in nets[0].inputs}  # labels (one value per item): class 0
        expected, found = (net.forward(**inputs) for net in nets)
        for name, value in expected.items():
            np.testing.assert_allclose(found[name], value, rtol=1e-4, atol=1e-5 * np.abs(value).max(),
                                       err_msg=f"{rel}: output {name}")
        compared += any(blob.channels_last for blob in nets[1].blobs.values())
    assert compared >= 25  # nets that did lay some activations out channels-last
