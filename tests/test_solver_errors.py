"""Bad solver input ends in one clear ProtonetError, and nothing already written is lost."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from protonet import Solver
from protonet.errors import ConfigError, NumericalError, StorageError, WeightsError

from .test_solver_helpers import feed_net, linear_net, make_solver, solver_from, solver_param

NET = linear_net()


def write_solver(folder: Path, body: str, net: str = NET) -> Path:
    (folder / "net.prototxt").write_text(net)
    path = folder / "solver.prototxt"
    path.write_text(body)
    return path


BASE = 'net: "net.prototxt" base_lr: 0.1 lr_policy: "fixed" max_iter: 5\n'


def test_a_missing_net_file_names_the_file(tmp_path: Path) -> None:
    path = write_solver(tmp_path, BASE.replace("net.prototxt", "nope.prototxt"))
    with pytest.raises(ConfigError, match=r"nope\.prototxt.*file not found"):
        Solver(path)


def test_a_net_error_names_the_net_file(tmp_path: Path) -> None:
    path = write_solver(tmp_path, BASE, net=NET.replace("InnerProduct", "InnerProdcut"))
    with pytest.raises(ConfigError, match=r"net\.prototxt.*unknown layer type 'InnerProdcut'.*InnerProduct"):
        Solver(path)


@pytest.mark.parametrize(("fields", "message"), [
    ('type: "Adamm"', "unknown solver type 'Adamm'; did you mean 'Adam'"),
    ("base_lr: -0.1", "base_lr must be >= 0"),
    ('lr_policy: "stepp"', "unknown lr_policy 'stepp'; did you mean 'step'"),
    ('lr_policy: "step" gamma: 0.1', "lr_policy 'step' needs stepsize"),
    ("iter_size: 0", "iter_size must be >= 1"),
    ('regularization_type: "L3"', "unknown regularization_type 'L3'"),
    ('type: "AdaGrad" momentum: 0.9', "momentum cannot be used with AdaGrad"),
    ('type: "RMSProp" rms_decay: 1.5', r"rms_decay must lie in \[0, 1\]"),
    ('test_iter: 1 test_iter: 1 test_interval: 5 test_state { stage: "a" }', "test_state has 1 entries"),
    ("snapshot: 10", "snapshot is set but snapshot_prefix is not"),
    ('train_net: "x.prototxt"', "more than one train net: net_param, train_net"),
])
def test_bad_solver_fields(fields: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        solver_from(solver_param(NET, fields))


def test_missing_fields(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="solver.prototxt: base_lr is not set"):
        Solver(write_solver(tmp_path, 'net: "net.prototxt" lr_policy: "fixed" max_iter: 5'))
    with pytest.raises(ConfigError, match="max_iter is not set"):
        Solver(write_solver(tmp_path, 'net: "net.prototxt" base_lr: 0.1 lr_policy: "fixed"'))
    with pytest.raises(ConfigError, match="no train net; set one of net, net_param"):
        Solver(write_solver(tmp_path, 'base_lr: 0.1 lr_policy: "fixed" max_iter: 5'))


def test_test_iter_must_match_the_test_nets(tmp_path: Path) -> None:
    body = BASE.replace("net:", "train_net:") + 'test_net: "net.prototxt" ' * 2 + "test_iter: 3 "
    with pytest.raises(ConfigError, match="test_iter has 1 values for 2 test nets"):
        Solver(write_solver(tmp_path, body + "test_interval: 5"))



def test_test_iter_without_test_interval_only_notes_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """As in Caffe, test_interval 0 means no periodic testing; protonet says so."""
    Solver(write_solver(tmp_path, BASE + "test_iter: 3"))
    assert "test_iter is set but test_interval is not" in caplog.text


def test_bad_overrides(tmp_path: Path) -> None:
    path = write_solver(tmp_path, BASE)
    with pytest.raises(ConfigError, match="unknown field 'base_lrr'.*did you mean 'base_lr'"):
        Solver(path, ["base_lrr=0.1"])
    with pytest.raises(ConfigError, match="'max_iter' is not of the form key=value"):
        Solver(path, ["max_iter"])
    with pytest.raises(ConfigError, match="expects an integer"):
        Solver(path, ["max_iter=lots"])
    with pytest.raises(ConfigError, match="base_lr must be >= 0"):
        Solver(path, ["base_lr=-1"])  # overrides are applied before the checks


def test_an_unwritable_snapshot_folder_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    solver = make_solver(NET, f'snapshot: 2 snapshot_prefix: "{tmp_path}/file/run/x"')
    with pytest.raises(StorageError, match="cannot write snapshots to folder"):
        solver.step(1)
    assert solver.iter == 0


@pytest.fixture
def snapshots(tmp_path: Path) -> tuple[Solver, Path]:
    """A solver that wrote snapshots at iterations 2 and 4."""
    solver = make_solver(feed_net(), f'momentum: 0.9 snapshot: 2 snapshot_prefix: "{tmp_path}/s"')
    solver.step(4)
    return solver, tmp_path


def test_a_caffemodel_given_to_restore_says_use_weights(snapshots: tuple[Solver, Path]) -> None:
    solver, folder = snapshots
    with pytest.raises(WeightsError, match="is a weights file, not a solver state.*--weights"):
        solver.restore(folder / "s_iter_2.caffemodel")
    renamed = folder / "weights.bin"
    renamed.write_bytes((folder / "s_iter_2.caffemodel").read_bytes())
    with pytest.raises(WeightsError, match="weights file, not a solver state"):
        solver.restore(renamed)  # found by content too
    assert solver.iter == 4


def test_a_truncated_state_is_refused_and_older_ones_untouched(snapshots: tuple[Solver, Path]) -> None:
    solver, folder = snapshots
    files = sorted(folder.glob("s_iter_*"))
    before = {p: p.read_bytes() for p in files}
    bad = folder / "s_iter_4.solverstate"
    bad.write_bytes(before[bad][: len(before[bad]) // 2])
    fresh = make_solver(feed_net(), "momentum: 0.9")
    with pytest.raises(WeightsError, match=r"s_iter_4\.solverstate: not a valid \.solverstate.*truncated"):
        fresh.restore(bad)
    assert fresh.iter == 0
    for path in files:
        if path != bad:
            assert path.read_bytes() == before[path]
    fresh.restore(folder / "s_iter_2.solverstate")
    assert fresh.iter == 2


def test_a_state_for_another_solver_or_net_is_refused(snapshots: tuple[Solver, Path]) -> None:
    _, folder = snapshots
    adam = make_solver(feed_net(), 'type: "Adam" momentum: 0.9')
    with pytest.raises(WeightsError, match="holds 4 history blobs, the Adam solver needs 8"):
        adam.restore(folder / "s_iter_2.solverstate")
    wider = make_solver(feed_net().replace("num_output: 4", "num_output: 5"), "momentum: 0.9")
    with pytest.raises(WeightsError, match=r"history blob 0 has shape \[4, 3\], the net needs \[5, 3\]"):
        wider.restore(folder / "s_iter_2.solverstate")
    with pytest.raises(WeightsError, match="solver state file not found"):
        adam.restore(folder / "s_iter_6.solverstate")


def test_a_state_whose_weights_are_gone(snapshots: tuple[Solver, Path]) -> None:
    solver, folder = snapshots
    (folder / "s_iter_2.caffemodel").unlink()
    with pytest.raises(WeightsError, match="s_iter_2.caffemodel', is not found.*keep the .caffemodel"):
        solver.restore(folder / "s_iter_2.solverstate")


def test_a_non_finite_loss_stops_with_the_iteration_and_layer(tmp_path: Path) -> None:
    solver = make_solver(NET, f'snapshot: 2 snapshot_prefix: "{tmp_path}/n"')
    solver.step(2)
    solver.net.blobs["x"].data[0, 0] = np.nan
    with pytest.raises(NumericalError, match=r"nan at iteration 2; layer 'x' is the first .*n_iter_2\."):
        solver.step(3)
    assert solver.iter == 2
    assert sorted(p.name for p in tmp_path.glob("n_*_*")) == ["n_iter_2.caffemodel", "n_iter_2.solverstate"]


def test_non_finite_weights_are_never_snapshotted(tmp_path: Path) -> None:
    solver = make_solver(NET, f'snapshot_prefix: "{tmp_path}/w"')
    solver.net.learnable[1].blob.data[0] = np.inf
    with pytest.raises(NumericalError, match="layer 'ip': parameter 1 has non-finite values at iteration 0"):
        solver.snapshot()
    assert not list(tmp_path.glob("w_iter_*"))


def test_bad_weights_for_fine_tuning(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="weights file not found"):
        make_solver(NET, weights=tmp_path / "missing.caffemodel")
