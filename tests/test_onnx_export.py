"""ONNX export of hand-built nets, one per layer type (and per pooling geometry): onnxruntime gives protonet's
forward; the errors of `protonet export` and its atomic write."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from protonet.cli import cli
from protonet.config import parse
from protonet.errors import ConfigError, ProtonetError
from protonet.net import Net
from protonet.onnx_export import DEFAULT_OPSET, MIN_OPSET, export, to_onnx
from protonet.onnx_export.vision import end_pad
from protonet.ops.pool import PoolGeometry
from protonet.proto import pb

from .onnx_check import compare, onnx, random_inputs, randomize, run_onnx

ROOT = Path(__file__).resolve().parents[1]
LENET = ROOT / "configs" / "lenet" / "deploy.yaml"
SHAPE = (2, 4, 7, 6)


def input_layer(name: str, shape: tuple[int, ...]) -> str:
    dims = " ".join(f"dim: {d}" for d in shape)
    return f'layer {{ name: "{name}" type: "Input" top: "{name}" input_param {{ shape {{ {dims} }} }} }}\n'


def build(body: str, inputs: dict[str, tuple[int, ...]] | None = None) -> Net:
    text = "".join(input_layer(name, shape) for name, shape in (inputs or {"data": SHAPE}).items()) + body
    return Net(parse(text, pb.NetParameter()), channels_last=False)


def layer(name: str, type_: str, bottoms: str = "data", params: str = "", top: str | None = None) -> str:
    bottom = " ".join(f'bottom: "{b}"' for b in bottoms.split())
    tops = " ".join(f'top: "{t}"' for t in (name if top is None else top).split())
    return f'layer {{ name: "{name}" type: "{type_}" {bottom} {tops} {params} }}\n'


def check(net: Net, seed: int = 0, opset: int = DEFAULT_OPSET) -> float:
    rng = np.random.default_rng(seed)
    randomize(net, rng)
    return compare(net, to_onnx(net, opset=opset), random_inputs(net, rng))


THREE = {"a": SHAPE, "b": SHAPE, "c": SHAPE}

# name -> (layers, inputs): one small net per layer type and option.
NETS: dict[str, tuple[str, dict | None]] = {
    "conv_group_dilation_stride": (layer("conv", "Convolution", params="convolution_param { num_output: 6 "
                                         "kernel_h: 3 kernel_w: 2 stride: 2 pad: 1 dilation: 2 group: 2 }"), None),
    "conv_depthwise": (layer("conv", "Convolution", params="convolution_param { num_output: 8 kernel_size: 3 "
                             "pad: 1 group: 4 bias_term: false }"), None),
    "conv_two_bottoms": (layer("conv", "Convolution", "a b", "convolution_param { num_output: 3 kernel_size: 1 }",
                               "ca cb"), {"a": SHAPE, "b": SHAPE}),
    "deconvolution": (layer("up", "Deconvolution", params="convolution_param { num_output: 6 kernel_size: 4 "
                            "stride: 2 pad: 1 group: 2 }"), None),
    "inner_product": (layer("ip", "InnerProduct", params="inner_product_param { num_output: 5 }"), None),
    "inner_product_axis_2": (layer("ip", "InnerProduct", params="inner_product_param { num_output: 5 axis: 2 }"),
                             None),
    "inner_product_transpose_no_bias": (layer("ip", "InnerProduct", params="inner_product_param { num_output: 5 "
                                              "transpose: true bias_term: false }"), None),
    "batch_norm_scale_in_place": (layer("conv", "Convolution", params="convolution_param { num_output: 3 "
                                        "kernel_size: 1 }")
                                  + layer("bn", "BatchNorm", "conv", top="conv")
                                  + layer("scale", "Scale", "conv", "scale_param { bias_term: true }", "conv")
                                  + layer("relu", "ReLU", "conv", top="conv"), None),
    "batch_norm_eps": (layer("bn", "BatchNorm", params="batch_norm_param { eps: 0.1 }"), None),
    "scale_axis_num_axes": (layer("scale", "Scale", params="scale_param { axis: 1 num_axes: 2 }"), None),
    "scale_by_bottom": (layer("scale", "Scale", "data s", "scale_param { axis: 0 bias_term: true }"),
                        {"data": SHAPE, "s": SHAPE[:2]}),
    "bias": (layer("bias", "Bias", params="bias_param { axis: 2 }"), None),
    "bias_by_bottom": (layer("bias", "Bias", "data b"), {"data": SHAPE, "b": SHAPE[1:3]}),
    "eltwise_sum_coefficients": (layer("sum", "Eltwise", "a b c", "eltwise_param { operation: SUM coeff: 1 "
                                       "coeff: -0.5 coeff: 2 }"), THREE),
    "eltwise_sum": (layer("sum", "Eltwise", "a b"), {"a": SHAPE, "b": SHAPE}),
    "eltwise_prod": (layer("prod", "Eltwise", "a b c", "eltwise_param { operation: PROD }"), THREE),
    "eltwise_max": (layer("max", "Eltwise", "a b c", "eltwise_param { operation: MAX }"), THREE),
    "concat": (layer("cat", "Concat", "a b"), {"a": SHAPE, "b": (2, 3, 7, 6)}),
    "concat_axis_3": (layer("cat", "Concat", "a b", "concat_param { axis: -1 }"), {"a": SHAPE, "b": (2, 4, 7, 2)}),
    "slice": (layer("cut", "Slice", params="slice_param { axis: 1 slice_point: 1 slice_point: 3 }",
                    top="p q r"), None),
    "slice_equal_parts": (layer("cut", "Slice", params="slice_param { axis: 3 }", top="p q"), None),
    "split_explicit_and_automatic": (layer("split", "Split", top="p q") + layer("relu", "ReLU", "p")
                                     + layer("sigmoid", "Sigmoid", "p"), None),
    "flatten": (layer("flat", "Flatten"), None),
    "flatten_axes_1_to_2": (layer("flat", "Flatten", params="flatten_param { axis: 1 end_axis: 2 }"), None),
    "reshape": (layer("r", "Reshape", params="reshape_param { shape { dim: 0 dim: -1 } }"), None),
    "reshape_axis_num_axes": (layer("r", "Reshape", params="reshape_param { shape { dim: 2 dim: -1 } axis: 1 "
                                    "num_axes: 1 }"), None),
    "reshape_copy_and_tail": (layer("r", "Reshape", params="reshape_param { shape { dim: 0 dim: 7 dim: 2 dim: 3 } "
                                    "axis: 1 }"), None),
    "softmax": (layer("prob", "Softmax"), None),
    "softmax_axis_2": (layer("prob", "Softmax", params="softmax_param { axis: 2 }"), None),
    "relu": (layer("relu", "ReLU"), None),
    "relu_leaky": (layer("relu", "ReLU", params="relu_param { negative_slope: 0.1 }"), None),
    "prelu": (layer("prelu", "PReLU"), None),
    "prelu_shared": (layer("prelu", "PReLU", params="prelu_param { channel_shared: true }"), None),
    "elu": (layer("elu", "ELU", params="elu_param { alpha: 0.5 }"), None),
    "sigmoid": (layer("sigmoid", "Sigmoid"), None),
    "tanh": (layer("tanh", "TanH"), None),
    "bnll": (layer("bnll", "BNLL"), None),
    "absval": (layer("abs", "AbsVal"), None),
    "power": (layer("power", "Power", params="power_param { power: 2 scale: 0.5 shift: 1 }"), None),
    "power_root": (layer("power", "Power", params="power_param { power: 0.5 scale: 0.5 shift: 4 }"), None),
    "power_affine": (layer("power", "Power", params="power_param { scale: -2 shift: 0.5 }"), None),
    "power_identity_in_place": (layer("power", "Power", top="data") + layer("tanh", "TanH"), None),
    "exp": (layer("exp", "Exp"), None),
    "exp_base_2": (layer("exp", "Exp", params="exp_param { base: 2 scale: 0.5 shift: 0.1 }"), None),
    "log": (layer("log", "Log", params="log_param { base: 10 scale: 0.5 shift: 5 }"), None),
    "clip": (layer("clip", "Clip", params="clip_param { min: -0.5 max: 0.7 }"), None),
    "threshold": (layer("step", "Threshold", params="threshold_param { threshold: 0.2 }"), None),
    "swish": (layer("swish", "Swish", params="swish_param { beta: 1.5 }"), None),
    "lrn_across_channels": (layer("norm", "LRN", params="lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 k: 2 }"),
                            None),
    "lrn_within_channel": (layer("norm", "LRN", params="lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 "
                                 "norm_region: WITHIN_CHANNEL }"), None),
    "dropout": (layer("drop", "Dropout", params="dropout_param { dropout_ratio: 0.3 }")
                + layer("relu", "ReLU", "drop"), None),
    "dropout_as_output": (layer("drop", "Dropout", params="dropout_param { dropout_ratio: 0.3 }"), None),
    "crop": (layer("crop", "Crop", "data ref", "crop_param { axis: 2 offset: 1 offset: 2 }"),
             {"data": SHAPE, "ref": (2, 4, 5, 3)}),
    "crop_one_offset": (layer("crop", "Crop", "data ref", "crop_param { axis: 1 offset: 1 }"),
                        {"data": SHAPE, "ref": (2, 2, 5, 3)}),
    "silence": (layer("relu", "ReLU") + layer("quiet", "Silence", "other", top=""),
                {"data": SHAPE, "other": (2, 3)}),
}


@pytest.mark.parametrize("name", sorted(NETS))
def test_layer_exports_as_protonet_computes_it(name: str) -> None:
    body, inputs = NETS[name]
    assert check(build(body, inputs)) < 1e-5


# Pooling geometries (H, W, kernel, stride, pad, round mode): Caffe's rounding up with an overhang past the
# padded input, the last window clipped away because it would start in the padding, and rounding down.
POOLS = {
    "fits": (7, 7, 3, 2, 0, "CEIL"),
    "ceil_overhang": (8, 8, 3, 2, 0, "CEIL"),
    "ceil_pad_overhang": (8, 9, 3, 2, 1, "CEIL"),
    "ceil_last_window_clipped": (5, 5, 2, 2, 1, "CEIL"),
    "ceil_clipped_pad_2": (7, 7, 3, 3, 2, "CEIL"),
    "ceil_odd_stride_3": (10, 11, 3, 3, 1, "CEIL"),
    "squeezenet_like": (13, 13, 3, 2, 0, "CEIL"),
    "floor_pad": (8, 8, 3, 2, 1, "FLOOR"),
    "floor_remainder_dropped": (6, 7, 4, 3, 0, "FLOOR"),
    "kernel_is_the_input": (7, 6, (7, 6), 1, 0, "CEIL"),
    "rectangular": (9, 7, (3, 2), (2, 3), (1, 0), "CEIL"),
}


def pooling_params(kernel, stride, pad, round_mode: str, method: str) -> str:
    def pair(name: str, value) -> str:
        return f"{name}: {value}" if isinstance(value, int) else f"{name}_h: {value[0]} {name}_w: {value[1]}"

    return (f"pooling_param {{ pool: {method} {pair('kernel', kernel).replace('kernel:', 'kernel_size:')} "
            f"{pair('stride', stride)} {pair('pad', pad)} round_mode: {round_mode} }}")


@pytest.mark.parametrize("method", ["MAX", "AVE"])
@pytest.mark.parametrize("name", sorted(POOLS))
def test_pooling_keeps_caffes_output_size_and_divisor(name: str, method: str) -> None:
    h, w, kernel, stride, pad, round_mode = POOLS[name]
    net = build(layer("pool", "Pooling", params=pooling_params(kernel, stride, pad, round_mode, method)),
                {"data": (2, 3, h, w)})
    assert check(net) < 1e-6


@pytest.mark.parametrize("method", ["MAX", "AVE"])
def test_global_pooling(method: str) -> None:
    net = build(layer("pool", "Pooling", params=f"pooling_param {{ pool: {method} global_pooling: true }}"))
    assert check(net) < 1e-6


def test_end_padding_gives_caffes_output_size_for_every_small_geometry() -> None:
    """ONNX's floor rounding over the input padded at its end by end_pad gives Caffe's pooled size, and the
    last window starts inside the input plus its Caffe padding, for MAX (pad only at the start) and AVE (Caffe's
    pad on both sides first)."""
    for size in range(1, 13):
        for kernel in range(1, 6):
            for stride in range(1, 5):
                for pad in range(kernel):
                    for ceil in (True, False):
                        out = PoolGeometry((kernel, kernel), (stride, stride), (pad, pad), ceil).output_size(
                            size, size)[0]
                        if out < 1:
                            continue
                        beyond = (out - 1) * stride >= size + pad  # a last window in no input (refused)
                        assert not beyond or (pad == 0 and kernel < stride and ceil)
                        for padded in (size + pad, size + 2 * pad):
                            end = end_pad(padded, kernel, stride, out)
                            assert (padded + end - kernel) // stride + 1 == out, (size, kernel, stride, pad, ceil)
                            assert beyond or end < kernel


def test_the_batch_is_symbolic_and_values_keep_caffe_names() -> None:
    """Exported at batch 1, run at batch 3; an in-place ReLU's output keeps the blob's name, its input gets
    another one."""
    net = build(layer("conv", "Convolution", params="convolution_param { num_output: 3 kernel_size: 3 }")
                + layer("relu", "ReLU", "conv", top="conv") + layer("pool", "Pooling", "conv",
                                                                   "pooling_param { pool: MAX kernel_size: 2 }"),
                {"data": (1, 4, 7, 6)})
    rng = np.random.default_rng(3)
    randomize(net, rng)
    model = to_onnx(net)
    dims = [[d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in model.graph.input]
    assert dims == [["batch", 4, 7, 6]]
    assert [o.name for o in model.graph.output] == ["pool"]
    assert {"conv", "conv@conv"} <= {out for node in model.graph.node for out in node.output}
    x = rng.normal(size=(3, 4, 7, 6)).astype(np.float32)
    net.blobs["data"].reshape(x.shape)
    net.reshape()
    got = run_onnx(model, {"data": x}, extra=("conv",))
    want = net.forward(data=x)
    np.testing.assert_allclose(got["pool"], want["pool"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got["conv"], net.blobs["conv"].data, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("opset", [MIN_OPSET, 18, 21])
def test_other_opsets(opset: int) -> None:
    body = (layer("conv", "Convolution", params="convolution_param { num_output: 4 kernel_size: 3 }")
            + layer("pool", "Pooling", "conv", "pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 }")
            + layer("cut", "Slice", "pool", "slice_param { slice_point: 1 }", "p q")
            + layer("norm", "LRN", "q", "lrn_param { local_size: 3 norm_region: WITHIN_CHANNEL }")
            + layer("flat", "Reshape", "norm", "reshape_param { shape { dim: 0 dim: -1 } }"))
    net = build(body)
    assert check(net, opset=opset) < 1e-5
    assert to_onnx(net, opset=opset).opset_import[0].version == opset


# ------------------------------------------------------------------ what cannot be exported


@pytest.mark.parametrize("body, message", [
    (layer("col", "Im2col", params="convolution_param { kernel_size: 2 }"),
     "layer 'col': type Im2col cannot be exported to ONNX; the types that can: AbsVal, BNLL, BatchNorm"),
    (layer("pool", "Pooling", params="pooling_param { pool: STOCHASTIC kernel_size: 2 }"),
     "layer 'pool': STOCHASTIC pooling cannot be exported to ONNX"),
    (layer("pool", "Pooling", params="pooling_param { pool: MAX kernel_size: 2 }", top="pool mask"),
     "layer 'pool': the argmax top of MAX pooling cannot be exported to ONNX; remove the second top"),
    (layer("pool", "Pooling", params="pooling_param { pool: MAX kernel_size: 1 stride: 2 }"),
     "layer 'pool': the last pooling window (kernel (1, 1), stride (2, 2), rounded up) lies wholly beyond the "
     "input, which ONNX cannot express; use round_mode: FLOOR"),
    (layer("bn", "BatchNorm", params="batch_norm_param { use_global_stats: false }"),
     "layer 'bn': BatchNorm with use_global_stats: false (the batch's own statistics) cannot be exported"),
    (layer("r", "Reshape", params="reshape_param { shape { dim: 1 } axis: 0 num_axes: 0 }"),
     "layer 'r': a Reshape of no axes at axis 0 moves the batch axis"),
])
def test_what_onnx_cannot_express_is_one_error_naming_the_layer(body: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        to_onnx(build(body))
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_an_unsupported_opset_is_refused() -> None:
    with pytest.raises(ConfigError, match=f"opset 9 is not supported; choose {MIN_OPSET} to"):
        to_onnx(build(layer("relu", "ReLU")), opset=9)


# ------------------------------------------------------------------ the command


@pytest.fixture
def lenet_weights(tmp_path: Path) -> Path:
    path = tmp_path / "lenet.caffemodel"
    net = Net(LENET, seed=1)
    randomize(net, np.random.default_rng(1))
    net.save(path)
    return path


def export_cli(*args: str) -> object:
    return CliRunner().invoke(cli, ["export", "--model", str(LENET), *args])


def test_export_command_writes_a_model_onnxruntime_runs(tmp_path: Path, lenet_weights: Path) -> None:
    out = tmp_path / "lenet.onnx"
    result = export_cli("--weights", str(lenet_weights), str(out))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (f"wrote {out} (opset {DEFAULT_OPSET}; inputs data [batch,1,28,28]; "
                                     "outputs prob [batch,10])")
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    net = Net(LENET, lenet_weights)
    x = np.random.default_rng(0).uniform(size=(1, 1, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(run_onnx(model, {"data": x})["prob"], net.forward(data=x)["prob"], rtol=1e-4,
                               atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lenet.caffemodel", "lenet.onnx"]


def test_input_shape_fixes_the_batch(tmp_path: Path, lenet_weights: Path) -> None:
    out = tmp_path / "lenet.onnx"
    result = export_cli("--weights", str(lenet_weights), "--input-shape", "data=4,1,28,28", "--opset", "18", str(out))
    assert result.exit_code == 0, result.output
    assert "opset 18; inputs data [4,1,28,28]; outputs prob [4,10]" in result.output


@pytest.mark.parametrize("spec, message", [
    ("image=1,1,28,28", "--input-shape image: 'image' is not an input blob of the net (its inputs: data)"),
    ("dat=1,1,28,28", "--input-shape dat: 'dat' is not an input blob of the net (its inputs: data); "
                      "did you mean 'data'?"),
    ("data=1,1,x", "--input-shape 'data=1,1,x' is not NAME=N,C,H,W; give the blob name and positive sizes"),
    ("data=1,1,0,28", "--input-shape 'data=1,1,0,28' is not NAME=N,C,H,W"),
    ("data=1,1,4,4", "the net cannot take the input shape data=1,1,4,4: layer 'conv1': input 4x4 gives an empty "
                     "output (0x0)"),
    ("data=1,1,32,32", "layer 'ip1': cannot copy param 0: shape mismatch, the file has [500, 800], the net needs "
                       "[500, 1250]; the weights do not fit the net with the input shape data=1,1,32,32"),
])
def test_bad_input_shapes_are_one_line_each(tmp_path: Path, lenet_weights: Path, spec: str, message: str) -> None:
    out = tmp_path / "lenet.onnx"
    result = export_cli("--weights", str(lenet_weights), "--input-shape", spec, str(out))
    assert isinstance(result.exception, ProtonetError)
    assert message in str(result.exception)
    assert "\n" not in str(result.exception)
    assert not out.exists()


def test_a_failed_export_leaves_the_old_file_and_no_temporary_one(tmp_path: Path, corpus_free_net: Path) -> None:
    """The command exits 2 with one line naming the layer; OUT keeps its old bytes; nothing else is left."""
    out = tmp_path / "net.onnx"
    out.write_bytes(b"old model")
    result = subprocess.run([sys.executable, "-m", "protonet.cli", "export", "--model", str(corpus_free_net),
                             "--weights", str(tmp_path / "net.caffemodel"), str(out)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"protonet: error: {corpus_free_net}:7: layer 'col': type Im2col cannot be exported to ONNX")
    assert out.read_bytes() == b"old model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.caffemodel", "net.onnx", "net.prototxt"]


@pytest.fixture
def corpus_free_net(tmp_path: Path) -> Path:
    """A net with a layer ONNX export lacks (Im2col), its weights beside it."""
    path = tmp_path / "net.prototxt"
    path.write_text(input_layer("data", (1, 2, 5, 5)) + layer("relu", "ReLU")
                    + "\n\n\n\n" + layer("col", "Im2col", "relu", "convolution_param { kernel_size: 2 }"))
    Net(path).save(tmp_path / "net.caffemodel")
    return path


def test_export_replaces_an_existing_file_whole(tmp_path: Path, lenet_weights: Path) -> None:
    out = tmp_path / "lenet.onnx"
    out.write_bytes(b"old model")
    model = export(LENET, out, weights=lenet_weights)
    assert out.read_bytes() == model.SerializeToString()


def test_without_the_onnx_package_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ConfigError, match=r"^ONNX export needs the onnx package; pip install protonet\[onnx\]$"):
        to_onnx(build(layer("relu", "ReLU")))
