"""The CLI end to end: train LeNet on real Fashion-MNIST, test, time, deploy and load it from the zoo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from protonet.cli import cli

ROOT = Path(__file__).resolve().parents[1]
LENET = ROOT / "configs" / "lenet"


def fashion_available() -> bool:
    from protonet.data import find_dataset
    from protonet.errors import DataError

    try:
        find_dataset("fashion-mnist")
    except DataError:
        return False
    return True


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "protonet.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def test_layers_and_check_list_caffe_shapes():
    runner = CliRunner()
    listing = runner.invoke(cli, ["layers"]).output
    assert "Convolution" in listing and "SoftmaxWithLoss" in listing
    result = runner.invoke(cli, ["check", "--model", str(LENET / "deploy.yaml")])
    assert result.exit_code == 0, result.output
    assert "conv1 1x20x24x24" in result.output and "pool2 1x50x4x4" in result.output
    assert "431,080" in result.output


@pytest.mark.slow
@pytest.mark.skipif(not fashion_available(), reason="Fashion-MNIST is not installed (scripts/test.sh gets it)")
def test_train_test_deploy_on_fashion_mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """300 iterations of LeNet on real Fashion-MNIST reach well above chance (0.1) on 2,000 test images."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PROTONET_ZOO", str(tmp_path / "zoo"))
    prefix = tmp_path / "run" / "lenet"
    overrides = ["max_iter=300", "test_interval=300", "test_iter=20", "snapshot=0", f"snapshot_prefix={prefix}"]
    trained = run_cli("train", "--solver", str(LENET / "solver.yaml"), *sum([["--set", o] for o in overrides], []),
                      cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert "Test net output #0: accuracy" in trained.stderr
    weights = tmp_path / "run" / "lenet_iter_300.caffemodel"
    assert weights.exists() and (tmp_path / "run" / "lenet_iter_300.solverstate").exists()
    events = [json.loads(line) for line in (tmp_path / "run" / "lenet_metrics.jsonl").read_text().splitlines()]
    losses = [e["loss"] for e in events if e.get("phase") == "train" and "loss" in e]
    assert losses[-1] < 0.6 * losses[0]

    tested = run_cli("test", "--model", str(LENET / "train_val.yaml"), "--weights", str(weights),
                     "--iterations", "20", cwd=tmp_path)
    assert tested.returncode == 0, tested.stderr
    accuracy = float(next(line for line in tested.stdout.splitlines() if line.startswith("accuracy")).split("=")[1])
    assert accuracy > 0.7

    deployed = run_cli("deploy", "--model", str(LENET / "train_val.yaml"), "--weights", str(weights),
                       "--name", "lenet-test", "--no-evaluate", cwd=tmp_path)
    assert deployed.returncode == 0, deployed.stderr
    meta = (tmp_path / "zoo" / "lenet-test" / "model.yaml").read_text()
    assert "sha256" in meta and "deploy.yaml" in meta

    import numpy as np

    from protonet import Net
    from protonet.zoo import resolve_model, resolve_weights

    net = Net(resolve_model("zoo:lenet-test"), weights=resolve_weights("zoo:lenet-test"))
    prob = net.forward(data=np.zeros((1, 1, 28, 28), np.float32))["prob"]
    assert prob.shape == (1, 10) and abs(float(prob.sum()) - 1) < 1e-5

    (tmp_path / "zoo" / "lenet-test" / "lenet-test.caffemodel").write_bytes(b"changed")
    broken = run_cli("test", "--model", "zoo:lenet-test", "--iterations", "1", cwd=tmp_path)
    assert broken.returncode == 4 and "sha256 does not match" in broken.stderr


def test_time_prints_caffe_style_totals():
    result = CliRunner().invoke(cli, ["time", "--model", str(LENET / "deploy.yaml"), "--iterations", "2",
                                      "--phase", "TEST"])
    assert result.exit_code == 0, result.output
    assert "conv1" in result.output and "Average Forward-Backward:" in result.output
    conv1 = next(line for line in result.output.splitlines() if line.startswith("conv1"))
    assert float(conv1.split()[4]) > 0  # its products' GFLOP/s; a ReLU row has none
    assert "GFLOP per forward-backward; at the BLAS's square-product rate of" in result.output


@pytest.mark.parametrize(("args", "code", "message"), [
    (["train", "--solver", "missing.yaml"], 2, "missing.yaml: file not found"),
    (["train", "--solver", "{lenet}/solver.yaml", "--set", "base_lrr=0.1"], 2,
     "unknown field 'base_lrr' in SolverParameter; did you mean 'base_lr'?"),
    (["train", "--solver", "{lenet}/solver.yaml", "--snapshot", "{lenet}/deploy.yaml"], 4, "deploy.yaml"),
    (["check", "--model", "zoo:nothing-here"], 2, "no model 'nothing-here' in the zoo"),
])
def test_user_errors_are_one_line(tmp_path: Path, args: list[str], code: int, message: str):
    result = run_cli(*[a.replace("{lenet}", str(LENET)) for a in args], cwd=tmp_path)
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("protonet: error: ") and message in lines[-1]
    assert "Traceback" not in result.stderr
