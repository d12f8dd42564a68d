"""The net gradient check (protonet.gradcheck.check_net) and `protonet gradcheck`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from protonet.cli import cli
from protonet.config import parse
from protonet.errors import ConfigError
from protonet.gradcheck import check_net
from protonet.net import Net
from protonet.proto import pb

COURSE = Path(__file__).resolve().parents[1] / "configs" / "course"
MLP = """
name: "mlp"
layer { name: "data" type: "Data" top: "data" top: "label"
        data_param { batch_size: 16 shuffle: true } synthetic_param { kind: "moons" num: 40 } }
layer { name: "hidden" type: "InnerProduct" bottom: "data" top: "hidden"
        inner_product_param { num_output: 6 weight_filler { type: "gaussian" std: 1 } } }
layer { name: "act" type: "TanH" bottom: "hidden" top: "hidden" }
layer { name: "drop" type: "Dropout" bottom: "hidden" top: "dropped" dropout_param { dropout_ratio: 0.3 } }
layer { name: "score" type: "InnerProduct" bottom: "dropped" top: "score"
        inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 1 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss" }
"""


def mlp(text: str = MLP) -> Net:
    return Net(parse(text, pb.NetParameter()), phase="TRAIN", dtype=np.float64, seed=3)


def test_a_correct_net_passes_with_dropout_and_shuffled_data_replayed():
    net = mlp()
    net.forward()  # not at the start of the data: the check takes the batch the next pass reads
    rows = check_net(net)
    assert [(r.layer, r.index, r.shape, r.checked) for r in rows] == [
        ("hidden", 0, (6, 2), 12), ("hidden", 1, (6,), 6), ("score", 0, (2, 6), 12), ("score", 1, (2,), 2)]
    assert max(r.max_error for r in rows) < 1e-6 and min(r.max_gradient for r in rows) > 1e-3


def test_a_wrong_backward_is_found_in_its_layer_only():
    net = mlp()
    layer = net.layer_dict["hidden"]
    backward = layer.backward

    def off_by_two_percent(top, propagate_down, bottom):
        before = layer.blobs[1].diff.copy()
        backward(top, propagate_down, bottom)
        layer.blobs[1].diff[...] = before + 1.02 * (layer.blobs[1].diff - before)

    layer.backward = off_by_two_percent
    errors = {(r.layer, r.index): r.max_error for r in check_net(net)}
    assert errors.pop(("hidden", 1)) == pytest.approx(0.02 / 1.02, rel=1e-3)
    assert max(errors.values()) < 1e-6


def test_an_in_place_dropout_after_tanh_is_caught():
    """TanH's backward reads its top, 1 - y^2; a Dropout in place after it overwrites y with y * mask."""
    net = mlp(MLP.replace('top: "dropped"', 'top: "hidden"').replace('bottom: "dropped"', 'bottom: "hidden"'))
    errors = {(r.layer, r.index): r.max_error for r in check_net(net)}
    assert errors["hidden", 0] > 0.01 and errors["hidden", 1] > 0.01
    assert errors["score", 0] < 1e-6 and errors["score", 1] < 1e-6


def test_samples_limit_the_elements_checked_and_layers_the_parameters():
    rows = check_net(mlp(), ["score"], samples=3)
    assert [(r.layer, r.index, r.checked) for r in rows] == [("score", 0, 3), ("score", 1, 2)]


@pytest.mark.parametrize("layers, expected", [
    (["scor"], "layer 'scor' is not in the net; did you mean 'score'?"),
    (["act"], "layer 'act' has no learnable parameters; layers with parameters: hidden, score"),
])
def test_layers_without_parameters_are_refused(layers, expected):
    with pytest.raises(ConfigError, match=expected):
        check_net(mlp(), layers)


def test_a_net_without_a_loss_is_refused():
    with pytest.raises(ConfigError, match="net 'mlp' has no loss"):
        check_net(mlp(MLP.replace('type: "SoftmaxWithLoss"', 'type: "Softmax"').replace('bottom: "label" ', "")))


def test_the_command_prints_a_table_and_fails_over_the_threshold():
    model = str(COURSE / "03_linear_vs_mlp" / "net.yaml")
    result = CliRunner().invoke(cli, ["gradcheck", "--model", model])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["layer", "param", "shape", "checked", "max", "|grad|", "max", "rel", "error"]
    assert lines[1].split()[:5] == ["linear1", "0", "[16,", "2]", "20"]
    assert len(lines) == 10 and lines[-1] == "all 8 parameters within 0.0001"
    result = CliRunner().invoke(cli, ["gradcheck", "--model", model, "--layer", "output", "--threshold", "1e-15"])
    assert result.exit_code == 1
    assert [line.split()[0] for line in result.output.splitlines()[1:3]] == ["output", "output"]
    assert result.output.count("FAIL") == 2 and "2 of 2 parameters over the threshold 1e-15" in result.output
