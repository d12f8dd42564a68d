"""A FIFO, a device or a folder where a file is expected: one line, at once, never a hang."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from protonet.errors import DataError, StorageError, WeightsError

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "configs" / "lenet" / "deploy.yaml"
IDX_NET = """
layer {{ name: "d" type: "Data" top: "data" top: "label"
        data_param {{ source: "{source}" label_source: "{labels}" batch_size: 2 }} }}
"""


def run(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """Python code in a child, so that a hang fails the test instead of stopping the suite."""
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=60)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run(f"import sys; sys.argv = ['protonet', *{list(args)!r}]; from protonet.cli import main; main()", cwd)


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "f.prototxt"
    os.mkfifo(path)
    return path


def one_line(result: subprocess.CompletedProcess, code: int, text: str) -> None:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], result.stderr


@pytest.mark.parametrize("args", [["check", "--model"], ["train", "--solver"], ["draw", "out.dot", "--model"]])
def test_a_fifo_config_is_refused(fifo: Path, args: list[str]):
    one_line(run_cli(*args, str(fifo), cwd=fifo.parent), StorageError.exit_code,
             f"{fifo}: cannot read: not a regular file (a FIFO)")


def test_a_folder_config_is_refused(tmp_path: Path):
    one_line(run_cli("check", "--model", str(tmp_path), cwd=tmp_path), StorageError.exit_code,
             "not a regular file (a folder)")


def test_fifo_weights_are_refused(fifo: Path):
    one_line(run_cli("test", "--model", str(DEPLOY), "--weights", str(fifo), cwd=fifo.parent),
             WeightsError.exit_code, "cannot read weights file: not a regular file (a FIFO)")


def test_a_device_as_weights_is_refused(tmp_path: Path):
    one_line(run_cli("test", "--model", str(DEPLOY), "--weights", "/dev/zero", cwd=tmp_path),
             WeightsError.exit_code, "not a regular file (a character device)")


def test_a_fifo_data_source_is_refused(fifo: Path):
    net = fifo.parent / "net.prototxt"
    net.write_text(IDX_NET.format(source=fifo, labels=fifo))
    result = run_cli("check", "--model", str(net), "--phase", "TRAIN", cwd=fifo.parent)
    assert result.returncode in (DataError.exit_code, StorageError.exit_code), result.stderr
    assert "not a regular file (a FIFO)" in result.stderr and len(result.stderr.strip().splitlines()) == 1
