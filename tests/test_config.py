"""Prototxt and YAML load into the same messages; errors name file, line, layer, field and a fix."""

import pytest

from protonet import config
from protonet.errors import ConfigError
from protonet.proto import pb

NET_TEXT = """
name: "tiny"
layer {
  name: "data"
  type: "Input"
  top: "data"
  input_param { shape { dim: 2 dim: 3 } }
}
layer {
  name: "ip"
  type: "InnerProduct"
  bottom: "data"
  top: "ip"
  param { lr_mult: 1 }
  param { lr_mult: 2 decay_mult: 0 }
  inner_product_param { num_output: 4 weight_filler { type: "xavier" variance_norm: AVERAGE } }
}
"""

NET_YAML = """
name: tiny
layer:
  - name: data
    type: Input
    top: data
    input_param: {shape: {dim: [2, 3]}}
  - name: ip
    type: InnerProduct
    bottom: data
    top: [ip]
    param: [{lr_mult: 1}, {lr_mult: 2, decay_mult: 0}]
    inner_product_param:
      num_output: 4
      weight_filler: {type: xavier, variance_norm: AVERAGE}
"""


def test_yaml_and_prototxt_give_the_same_message():
    a = config.parse(NET_TEXT, pb.NetParameter())
    b = config.parse(NET_YAML, pb.NetParameter(), syntax="yaml")
    assert a == b
    assert b.layer[1].inner_product_param.weight_filler.variance_norm == pb.FillerParameter.AVERAGE


def test_round_trip_prototxt_yaml_prototxt(tmp_path):
    net = config.parse(NET_TEXT, pb.NetParameter())
    net.layer[0].transform_param.scale = 0.00390625
    net.layer[1].inner_product_param.weight_filler.std = 0.01
    config.save(net, tmp_path / "n.yaml")
    config.save(config.load_message(tmp_path / "n.yaml", pb.NetParameter()), tmp_path / "n.prototxt")
    assert config.load_message(tmp_path / "n.prototxt", pb.NetParameter()) == net
    assert "std: 0.01" in (tmp_path / "n.yaml").read_text()


def test_an_empty_string_set_explicitly_survives_the_yaml_round_trip(tmp_path):
    net = config.parse(NET_TEXT, pb.NetParameter())
    net.name = ""  # set, so saved as name: ''
    config.save(net, tmp_path / "n.yaml")
    assert "name: ''" in (tmp_path / "n.yaml").read_text()
    again = config.load_message(tmp_path / "n.yaml", pb.NetParameter())
    assert again == net and again.HasField("name")
    for unset in ("name:\n", "name: ~\n", "name: null\n"):  # unquoted: nothing given
        with pytest.raises(ConfigError, match="field 'name' has no value"):
            config.parse(unset, pb.NetParameter(), syntax="yaml")


def test_yaml_accepts_scientific_notation_and_scalars_for_lists():
    solver = config.parse("base_lr: 1e-3\ntest_iter: 100\nstepvalue: [10, 20]", pb.SolverParameter(),
                          syntax="yaml")
    assert solver.base_lr == pytest.approx(1e-3)
    assert list(solver.test_iter) == [100]
    assert list(solver.stepvalue) == [10, 20]


def _error(text, syntax, file):
    with pytest.raises(ConfigError) as info:
        config.parse(text, pb.NetParameter(), syntax=syntax, file=file)
    return str(info.value)


def test_unknown_field_yaml_names_file_line_layer_and_suggestion():
    text = NET_YAML.replace("num_output: 4", "num_ouput: 4")
    message = _error(text, "yaml", "lenet.yaml")
    assert message == ("lenet.yaml:14: layer 'ip': unknown field 'num_ouput' in inner_product_param; "
                       "did you mean 'num_output'?")


def test_unknown_field_prototxt_names_file_line_layer_and_suggestion():
    text = NET_TEXT.replace("num_output: 4", "num_ouput: 4")
    message = _error(text, "prototxt", "lenet.prototxt")
    assert message.startswith("lenet.prototxt:16: layer 'ip': unknown field 'num_ouput' in inner_product_param")
    assert message.endswith("did you mean 'num_output'?")


def test_wrong_value_type():
    message = _error(NET_YAML.replace("num_output: 4", "num_output: four"), "yaml", "n.yaml")
    assert message == "n.yaml:14: layer 'ip': field 'num_output' expects an integer, found 'four'"
    message = _error(NET_TEXT.replace("num_output: 4", "num_output: four"), "prototxt", "n.prototxt")
    assert message.startswith("n.prototxt:16: layer 'ip': malformed text")


def test_bad_enum_value_suggests():
    message = _error(NET_YAML.replace("AVERAGE", "AVERGE"), "yaml", "n.yaml")
    assert "expects one of FAN_IN, FAN_OUT, AVERAGE, found 'AVERGE'" in message
    assert message.endswith("did you mean 'AVERAGE'?")
    message = _error(NET_TEXT.replace("AVERAGE", "AVERGE"), "prototxt", "n.prototxt")
    assert "unknown value 'AVERGE'" in message and "did you mean 'AVERAGE'?" in message


def test_malformed_text_and_yaml():
    assert _error("layer { name: 'x' ", "prototxt", "a.prototxt").startswith("a.prototxt:1: ")
    assert _error("layer: [\n  - {name: x\n", "yaml", "a.yaml").startswith("a.yaml:")


def test_fork_field_is_named():
    text = "layer: [{name: perm, type: Permute, permute_param: {order: [0, 2, 3, 1]}}]"
    message = _error(text, "yaml", "ssd.yaml")
    assert "unknown field 'permute_param'" in message and "SSD (weiliu89/caffe)" in message


def test_solver_net_path_resolves_against_its_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "net.prototxt").write_text(NET_TEXT)
    (tmp_path / "sub" / "solver.yaml").write_text("net: net.prototxt\nbase_lr: 0.1\n")
    solver = config.load_solver(tmp_path / "sub" / "solver.yaml")
    assert solver.net == str(tmp_path / "sub" / "net.prototxt")


def test_set_field_overrides_and_errors():
    solver = pb.SolverParameter(base_lr=0.1)
    config.set_field(solver, "base_lr", "0.001")
    config.set_field(solver, "train_state.stage", "[a, b]")
    config.set_field(solver, "type", "Adam")
    assert solver.base_lr == pytest.approx(0.001)
    assert list(solver.train_state.stage) == ["a", "b"]
    with pytest.raises(ConfigError, match="unknown field 'max_iters'.*did you mean 'max_iter'"):
        config.set_field(solver, "max_iters", "10")


def test_missing_file_and_extension(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        config.load_net(tmp_path / "none.prototxt")
    with pytest.raises(ConfigError, match="unknown config extension"):
        config.syntax_of("net.json")
