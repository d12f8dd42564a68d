"""Run tracking: TensorBoard event files beside the metrics, and resuming the newest snapshot."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from protonet.cli import cli
from protonet.errors import ConfigError
from protonet.solvers import Solver

from .test_crash_helpers import SMALL_NET, SMALL_SOLVER, write_run


def scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in the TFRecord event files of `folder`: tag -> [(step, value)] in file order."""
    event_pb2 = pytest.importorskip("tensorboardX.proto.event_pb2")
    found: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data, at = path.read_bytes(), 0
        while at < len(data):
            (length,) = struct.unpack_from("<Q", data, at)
            event = event_pb2.Event.FromString(data[at + 12:at + 12 + length])
            at += 12 + length + 4  # length, its crc, the record, its crc
            for value in event.summary.value:
                found.setdefault(value.tag, []).append((event.step, value.simple_value))
    return found


def test_tensorboard_gets_the_metrics_events(tmp_path: Path) -> None:
    pytest.importorskip("tensorboardX")
    solver_file = write_run(tmp_path, SMALL_NET, f"{SMALL_SOLVER} max_iter: 6 display: 2 test_iter: 1 "
                                                 "test_interval: 3 test_net: 'net.prototxt'")
    solver_file.write_text(solver_file.read_text().replace("'net.prototxt'", f"'{tmp_path / 'net.prototxt'}'"))
    board = tmp_path / "board"
    result = CliRunner().invoke(cli, ["train", "--solver", str(solver_file), "--tensorboard", str(board)])
    assert result.exit_code == 0, result.output
    found = scalars(board)
    events = [json.loads(line) for line in (tmp_path / "snap" / "s_metrics.jsonl").read_text().splitlines()]
    train = [e for e in events if e["phase"] == "train"]
    assert [step for step, _ in found["train/loss"]] == [e["iter"] for e in train] == [0, 2, 4, 6]
    assert [value for _, value in found["train/loss"]] == pytest.approx([e["loss"] for e in train], rel=1e-6)
    assert [value for _, value in found["train/lr"]] == pytest.approx([0.1] * 4)
    assert [step for step, _ in found["train/seconds_per_iter"]] == [2, 4, 6]
    assert [step for step, _ in found["test0/loss"]] == [0, 3, 6]


def test_tensorboard_without_its_package_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # import fails as if not installed
    solver = Solver(write_run(tmp_path, SMALL_NET, f"{SMALL_SOLVER} max_iter: 2"), tensorboard=tmp_path / "tb")
    with pytest.raises(ConfigError, match=r"--tensorboard needs the tensorboardX package.*protonet\[tensorboard\]"):
        solver.solve()
    assert solver.iter == 0


def test_snapshot_latest_resumes_the_newest_snapshot(tmp_path: Path) -> None:
    solver_file = write_run(tmp_path, SMALL_NET, f"{SMALL_SOLVER} max_iter: 4 snapshot: 2")
    runner = CliRunner()
    missing = runner.invoke(cli, ["train", "--solver", str(solver_file), "--snapshot", "latest"])
    assert missing.exit_code == 2 and "no " in missing.output and "s_iter_<N>.solverstate" in missing.output
    assert runner.invoke(cli, ["train", "--solver", str(solver_file)]).exit_code == 0
    resumed = runner.invoke(cli, ["train", "--solver", str(solver_file), "--snapshot", "latest", "--set",
                                  "max_iter=12"])
    assert resumed.exit_code == 0, resumed.output
    assert f"last snapshot: {tmp_path / 'snap' / 's_iter_12.solverstate'} (iteration 12)" in resumed.output
    again = Solver(solver_file, ["max_iter=12"])
    again.restore(tmp_path / "snap" / "s_iter_10.solverstate")
    assert again.iter == 10  # 10 sorts after 4 as a number, not as text: the newest was iteration 12
    from protonet.solvers.snapshot import latest_state

    assert latest_state(str(tmp_path / "snap" / "s")) == str(tmp_path / "snap" / "s_iter_12.solverstate")
