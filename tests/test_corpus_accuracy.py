"""Real Caffe models score what their sources report, through `protonet test` on real MNIST."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from protonet import config
from protonet.cli import cli
from tests.conftest import shared_path


@pytest.mark.parametrize(("source", "expected"), [
    # CaffeMNIST's README reports 98.6%; its weights score 99.05% on all of t10k (corpus SOURCES.md).
    ("nandahkrishna__CaffeMNIST", 0.9905),
])
def test_caffe_lenet_reproduces_its_accuracy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str,
                                             expected: float):
    folder = shared_path("corpus", source)
    monkeypatch.setenv("PROTONET_DATA", str(shared_path("data")))
    net = config.load_net(folder / "lenet_train_test.prototxt")
    for layer in net.layer:  # the LMDB databases are not in the corpus: read the same records from IDX
        if layer.type == "Data":
            split = "test" if layer.include[0].phase == 1 else "train"
            layer.data_param.source = f"mnist:{split}"
    config.save(net, tmp_path / "lenet.prototxt")
    result = CliRunner().invoke(cli, ["test", "--model", str(tmp_path / "lenet.prototxt"),
                                      "--weights", str(folder / "lenet_iter_10000.caffemodel")])
    assert result.exit_code == 0, result.output
    scores = dict(line.split(" = ") for line in result.output.splitlines() if " = " in line)
    assert float(scores["accuracy"]) == pytest.approx(expected, abs=5e-4)
