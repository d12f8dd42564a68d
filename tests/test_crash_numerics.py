"""Numerical faults stop training with the iteration and the first layer (forward or backward) whose
output went non-finite, keeping the last good snapshot; --debug-info logs Caffe's per-layer lines."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from protonet.cli import cli
from protonet.errors import NumericalError
from protonet.solvers import Solver

from .test_crash_helpers import check_snapshots, run_cli, snapshot_iters, write_run

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                                        "ignore:divide by zero:RuntimeWarning",
                                        "ignore:invalid value:RuntimeWarning")

CHAIN = """
name: "chain"
layer { name: "data" type: "Data" top: "data" data_param { source: "records.npz" batch_size: 1 } }
layer { name: "target" type: "DummyData" top: "target" dummy_data_param { shape { dim: 1 dim: 1 } } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
        inner_product_param { num_output: 1 bias_term: false weight_filler { type: "constant" value: 1 } } }
MIDDLE
layer { name: "loss" type: "EuclideanLoss" bottom: "ip" bottom: "target" top: "loss" }
"""
# In place on purpose: the fault is traced to the layer that made the value, not the blob's first writer.
EXP = 'layer { name: "exp" type: "Exp" bottom: "ip" top: "ip" }'
SQRT = 'layer { name: "sqrt" type: "Power" bottom: "ip" top: "ip" power_param { power: 0.5 } }'
SOLVER = 'base_lr: 1e-6 lr_policy: "fixed" max_iter: 8 snapshot: 2 random_seed: 1'


def chain_run(folder: Path, middle: str, records: list[float], fields: str = "", solver: str = SOLVER
              ) -> Path:
    """A run over `records` (one per batch, in order) through ip (w = 1) -> `middle` -> EuclideanLoss."""
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "records.npz", data=np.array(records, np.float32).reshape(-1, 1, 1, 1))
    net = CHAIN.replace("MIDDLE", middle).replace("records.npz", str(folder / "records.npz"))
    return write_run(folder, net, f"{solver} {fields}")


def assert_last_good_snapshot_kept(folder: Path, solver: Solver, iteration: int) -> None:
    snap = folder / "snap"
    assert solver.iter == iteration  # stopped before the update: the weights are those of the last iteration
    assert snapshot_iters(snap) == list(range(2, iteration + 1, 2))
    assert check_snapshots(snap, folder / "net.prototxt") == snapshot_iters(snap)[-1]
    assert all(np.isfinite(lp.blob.data).all() for lp in solver.net.learnable)


@pytest.mark.parametrize(("iter_size", "iteration"), [(1, 5), (2, 2)])
def test_an_overflow_in_forward_names_the_layer_and_iteration(tmp_path: Path, iter_size: int,
                                                             iteration: int) -> None:
    """Record 5 (of 0.1 ... 0.8 and 1000) makes exp(1000) = inf: in iteration 5, or with iter_size 2 in the
    second pass of iteration 2 (the replay runs both passes from the iteration's start)."""
    records = [0.1, 0.2, 0.3, 0.4, 0.5, 1000.0, 0.7, 0.8]
    solver = Solver(chain_run(tmp_path, EXP, records, f"iter_size: {iter_size}"))
    last = iteration - iteration % 2
    message = (rf"^the loss is inf at iteration {iteration}; layer 'exp' is the first to output a non-finite "
               rf"value \(forward\); lower base_lr .*the last good snapshot is .*s_iter_{last}\.solverstate$")
    with pytest.raises(NumericalError, match=message):
        solver.solve()
    assert_last_good_snapshot_kept(tmp_path, solver, iteration)


def test_a_non_finite_gradient_in_backward_names_the_layer(tmp_path: Path) -> None:
    """sqrt(0) = 0 is fine forward, but its derivative 0.5 / sqrt(0) is not: the loss stays finite."""
    records = [0.1, 0.2, 0.3, 0.0, 0.5, 0.6, 0.7, 0.8]
    solver = Solver(chain_run(tmp_path, SQRT, records))
    message = (r"^a gradient is non-finite at iteration 3; layer 'sqrt' is the first to output a non-finite "
               r"gradient \(backward\); .*s_iter_2\.solverstate$")
    with pytest.raises(NumericalError, match=message):
        solver.solve()
    assert_last_good_snapshot_kept(tmp_path, solver, 3)


def test_an_update_that_overflows_names_the_parameter(tmp_path: Path) -> None:
    huge = SOLVER.replace("base_lr: 1e-6", "base_lr: 1e36")  # w -= 1e36 * 1e4 overflows float32
    solver = Solver(chain_run(tmp_path, "", [100.0] * 8, solver=huge))
    with pytest.raises(NumericalError, match=r"^layer 'ip': parameter 0 became non-finite in the update at "
                                             r"iteration 0; lower base_lr"):
        solver.solve()
    assert snapshot_iters(tmp_path / "snap") == []


def test_the_cli_ends_a_numerical_fault_with_exit_code_5(tmp_path: Path) -> None:
    done = run_cli(chain_run(tmp_path, EXP, [0.1, 0.2, 0.3, 1000.0]))
    assert done.returncode == 5
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("protonet: error: the loss is inf at iteration 3; layer 'exp' is the first")
    assert snapshot_iters(tmp_path / "snap") == [2]


DEBUG_NET = """
name: "debug"
layer { name: "data" type: "DummyData" top: "data" top: "target"
        dummy_data_param { shape { dim: 2 dim: 3 } shape { dim: 2 dim: 2 }
                           data_filler { type: "constant" value: 1 }
                           data_filler { type: "constant" value: 0 } } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
        inner_product_param { num_output: 2 weight_filler { type: "constant" value: 0.5 }
                              bias_filler { type: "constant" value: 0.1 } } }
layer { name: "loss" type: "EuclideanLoss" bottom: "ip" bottom: "target" top: "loss" }
"""
# x = 1 (2x3), W = 0.5, b = 0.1: ip = 3 * 0.5 + 0.1 = 1.6; loss = 4 * 1.6^2 / (2 * 2) = 2.56;
# d ip = 1.6 / N = 0.8; dW = dy' x = 2 * 0.8 = 1.6 = db; the SGD update is 0.1 * 1.6 = 0.16.
EXPECTED = [
    "    [Forward] Layer data, top blob data data: 1",
    "    [Forward] Layer data, top blob target data: 0",
    "    [Forward] Layer ip, top blob ip data: 1.6",
    "    [Forward] Layer ip, param blob 0 data: 0.5",
    "    [Forward] Layer ip, param blob 1 data: 0.1",
    "    [Forward] Layer loss, top blob loss data: 2.56",
    "    [Backward] Layer loss, bottom blob ip diff: 0.8",
    "    [Backward] Layer ip, param blob 0 diff: 1.6",
    "    [Backward] Layer ip, param blob 1 diff: 1.6",
    f"    [Backward] All net params (data, diff): L1 norm = (3.2, 12.8); L2 norm = "
    f"({np.sqrt(6 * 0.25 + 2 * 0.01):.6g}, {np.sqrt(8 * 1.6**2):.6g})",
    "    [Update] Layer ip, param 0 data: 0.34; diff: 0.16",
    "    [Update] Layer ip, param 1 data: 0.06; diff: 0.16",
]


def debug_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    messages = [r.getMessage() for r in caplog.records if r.name == "protonet"]
    return [m for m in messages if m.startswith("    [")]


def test_debug_info_logs_per_layer_values_on_display_iterations(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    solver = Solver(write_run(tmp_path, DEBUG_NET, 'base_lr: 0.1 lr_policy: "fixed" max_iter: 3 display: 2 '
                                                   "debug_info: true"))
    with caplog.at_level(logging.INFO, logger="protonet"):
        solver.step(1)
    assert debug_lines(caplog) == EXPECTED
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="protonet"):
        solver.step(1)  # iteration 1: not a display iteration
    assert debug_lines(caplog) == []


@pytest.mark.parametrize("flag", [True, False])
def test_the_debug_info_option(tmp_path: Path, caplog: pytest.LogCaptureFixture, flag: bool) -> None:
    solver = write_run(tmp_path, DEBUG_NET, 'base_lr: 0.1 lr_policy: "fixed" max_iter: 3 display: 2')
    args = ["train", "--solver", str(solver), "--no-progress"] + (["--debug-info"] if flag else [])
    with caplog.at_level(logging.INFO, logger="protonet"):
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0
    lines = debug_lines(caplog)
    assert lines[:len(EXPECTED)] == (EXPECTED if flag else [])
    forward_ip = sum("[Forward] Layer ip, top blob" in line for line in lines)
    assert forward_ip == (2 if flag else 0)  # iterations 0 and 2
