"""Config reuse: YAML `include:` with overrides, and `--set` reaching a net's fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from protonet.config import load_net, load_solver, set_field
from protonet.errors import ConfigError
from protonet.proto import pb
from protonet.solvers import Solver

BASE_NET = """\
name: base
layer:
  - {name: data, type: Input, top: data, input_param: {shape: {dim: [2, 3]}}}
  - name: fc
    type: InnerProduct
    bottom: data
    top: fc
    inner_product_param: {num_output: 4, weight_filler: {type: gaussian, std: 0.1}}
  - {name: relu, type: ReLU, bottom: fc, top: fc}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_an_included_net_is_the_base_and_named_layers_merge_in_place(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", BASE_NET)
    net = load_net(write(tmp_path, "wide.yaml", """\
include: base.yaml
name: wide
layer:
  - {name: fc, inner_product_param: {num_output: 16}}
  - {name: prob, type: Softmax, bottom: fc, top: prob}
"""))
    assert net.name == "wide"
    assert [layer.name for layer in net.layer] == ["data", "fc", "relu", "prob"]
    fc = net.layer[1].inner_product_param
    assert fc.num_output == 16 and fc.weight_filler.type == "gaussian" and fc.weight_filler.std == pytest.approx(0.1)
    assert net.layer[1].bottom == ["data"]


def test_a_solver_includes_a_list_of_files_the_last_winning(tmp_path: Path) -> None:
    write(tmp_path, "net.yaml", BASE_NET)
    write(tmp_path, "common.yaml", "net: net.yaml\nbase_lr: 0.1\nmax_iter: 100\nlr_policy: fixed\n")
    write(tmp_path, "adam.yaml", "type: Adam\nbase_lr: 0.001\nmomentum2: 0.99\n")
    solver = load_solver(write(tmp_path, "solver.yaml", "include: [common.yaml, adam.yaml]\nmax_iter: 5\n"))
    assert (solver.type, solver.base_lr, solver.max_iter, solver.lr_policy) == ("Adam", pytest.approx(0.001), 5,
                                                                                 "fixed")
    assert solver.net == str(tmp_path / "net.yaml")


@pytest.mark.parametrize(("files", "message"), [
    ({"a.yaml": "include: b.yaml\n", "b.yaml": "include: a.yaml\n"}, r"b\.yaml:1: include: the files include each "
                                                                     r"other \(.*a\.yaml -> .*b\.yaml -> .*a\.yaml\)"),
    ({"a.yaml": "include: old.prototxt\n"}, r"a\.yaml:1: include: 'old\.prototxt' is not a YAML file; "
                                            r"convert it first: protonet convert old\.prototxt old\.yaml"),
    ({"a.yaml": "include: missing.yaml\n"}, r"missing\.yaml: file not found"),
    ({"a.yaml": "include: b.yaml\n", "b.yaml": "name: x\nlayer:\n  - {name: fc, type: ReLU, bottm: x}\n"},
     r"b\.yaml:3: layer 'fc': unknown field 'bottm' in layer; did you mean 'bottom'\?"),
])
def test_include_errors_name_the_file_and_line(tmp_path: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        write(tmp_path, name, text)
    with pytest.raises(ConfigError, match=message):
        load_net(tmp_path / "a.yaml")


def test_set_picks_a_repeated_item_by_name_or_index() -> None:
    net = pb.NetParameter(layer=[pb.LayerParameter(name="a"), pb.LayerParameter(name="conv1")])
    set_field(net, "layer[conv1].convolution_param.num_output", "32")
    set_field(net, "layer[0].type", "ReLU")
    assert net.layer[1].convolution_param.num_output == 32 and net.layer[0].type == "ReLU"
    with pytest.raises(ConfigError, match=r"no layer named 'conv2'; did you mean 'conv1'\?"):
        set_field(net, "layer[conv2].type", "ReLU")
    with pytest.raises(ConfigError, match=r"'layer' is a list: pick one with layer\[NAME\] or layer\[INDEX\]"):
        set_field(net, "layer.type", "ReLU")
    with pytest.raises(ConfigError, match=r"layer\[5\]: there are 2 layer entries"):
        set_field(net, "layer[5].type", "ReLU")


def test_set_net_fields_reach_every_net_and_the_saved_run_files(tmp_path: Path) -> None:
    write(tmp_path, "net.yaml", BASE_NET)
    path = write(tmp_path, "solver.yaml", "net: net.yaml\nbase_lr: 0.1\nmax_iter: 1\nlr_policy: fixed\n"
                                          "test_iter: 1\ntest_interval: 10\n")
    solver = Solver(path, ["net.layer[fc].inner_product_param.num_output=7", "max_iter=2"])
    assert solver.net.blobs["fc"].shape == (2, 7) and solver.test_nets[0].blobs["fc"].shape == (2, 7)
    solver.solve()
    saved = load_solver(tmp_path / "solver_solver.prototxt")
    assert saved.max_iter == 2 and saved.net_param.layer[1].inner_product_param.num_output == 7
    assert load_net(tmp_path / "net.yaml").layer[1].inner_product_param.num_output == 4  # the file is untouched
    message = r"--set net\.layer\[relu1\]\.type: no layer named 'relu1'; did you mean 'relu'"
    with pytest.raises(ConfigError, match=message):
        Solver(path, ["net.layer[relu1].type=ReLU"])
