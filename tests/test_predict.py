"""predict on image files, .npy and IDX with a zoo model, and zoo verify / remove."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from protonet import Net
from protonet.cli import cli
from protonet.data.idx import write_idx
from protonet.deploy import deploy
from protonet.errors import ConfigError, DataError
from protonet.predict import load_predictor

Image = pytest.importorskip("PIL.Image")

TRAIN_VAL = """name: "grey"
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TEST }
  transform_param { scale: 0.0125 mean_value: 20 }
  data_param { source: "records.npz" batch_size: 2 } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
  inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.2 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
"""


@pytest.fixture
def grey(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Zoo entry 'grey': 1x6x5 grey inputs, mean 20, scale 0.0125, three labels."""
    monkeypatch.setenv("PROTONET_ZOO", str(tmp_path / "zoo"))
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "records.npz", data=rng.integers(0, 255, (4, 1, 6, 5), dtype=np.uint8),
             labels=np.arange(4) % 3)
    (tmp_path / "train_val.prototxt").write_text(TRAIN_VAL)
    Net(tmp_path / "train_val.prototxt", phase="TEST", seed=1).save(tmp_path / "w.caffemodel")
    return deploy(tmp_path / "train_val.prototxt", tmp_path / "w.caffemodel", "grey", labels=["a", "b", "c"])


def by_hand(entry: Path, records: np.ndarray) -> np.ndarray:
    """Softmax of the deploy net's forward on (records - 20) * 0.0125."""
    net = Net(entry / "deploy.yaml", weights=entry / "grey.caffemodel", phase="TEST")
    net.blobs["data"].reshape(*records.shape)
    net.reshape()
    return net.forward(data=((records - 20) * 0.0125).astype(np.float32))["prob"].reshape(len(records), -1)


def test_images_are_resized_transformed_and_classified(grey: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    pixels = [rng.integers(0, 256, (12, 10), dtype=np.uint8), rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)]
    paths = [tmp_path / "a.png", tmp_path / "b.jpg"]
    for path, array in zip(paths, pixels, strict=True):
        Image.fromarray(array).save(path)
    result = CliRunner().invoke(cli, ["predict", "--model", "zoo:grey", "--json", "--top-k", "3",
                                      *map(str, paths)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    records = []
    for path in paths:  # as a user would prepare them: grey, resized to 6x5 (width 5, height 6)
        with Image.open(path) as image:
            records.append(np.asarray(image.convert("L").resize((5, 6), Image.BILINEAR), np.float32)[None])
    expected = by_hand(grey, np.stack(records))
    for line, path, probs in zip(lines, paths, expected, strict=True):
        assert line["input"] == str(path)
        assert [item["index"] for item in line["top"]] == list(np.argsort(-probs, kind="stable"))
        assert [item["label"] for item in line["top"]] == ["abc"[i] for i in np.argsort(-probs, kind="stable")]
        assert [item["prob"] for item in line["top"]] == pytest.approx(sorted(probs, reverse=True), rel=1e-5)


def test_npy_and_idx_records_in_batches(grey: Path, tmp_path: Path) -> None:
    records = np.random.default_rng(2).integers(0, 256, (5, 6, 5)).astype(np.uint8)
    write_idx(tmp_path / "r-ubyte", records)
    np.save(tmp_path / "one.npy", records[0].astype(np.float32))
    predictor = load_predictor("zoo:grey")
    got = predictor.probabilities(predictor.prepare(predictor.read(tmp_path / "r-ubyte")), size=2)
    assert got == pytest.approx(by_hand(grey, records[:, None].astype(np.float32)), rel=1e-5)
    text = CliRunner().invoke(cli, ["predict", "--model", "zoo:grey", "--top-k", "1", str(tmp_path / "one.npy"),
                                    str(tmp_path / "r-ubyte")])
    assert text.exit_code == 0, text.output
    rows = text.output.splitlines()
    assert len(rows) == 6 and rows[0].startswith(f"{tmp_path / 'one.npy'}: ")
    assert rows[1].startswith(f"{tmp_path / 'r-ubyte'}[0]: ")


def test_bad_inputs_are_one_clear_error(grey: Path, tmp_path: Path) -> None:
    predictor = load_predictor("zoo:grey")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(DataError, match=r"broken\.png: cannot decode image"):
        predictor.read(tmp_path / "broken.png")
    np.save(tmp_path / "wrong.npy", np.zeros((2, 7, 7), np.float32))
    with pytest.raises(DataError, match=r"wrong\.npy: holds an array of shape \[2, 7, 7\]; the net takes "
                                         r"records of shape \[1, 6, 5\]"):
        predictor.read(tmp_path / "wrong.npy")
    with pytest.raises(ConfigError, match=r"no model 'gray' in the zoo.*did you mean 'grey'"):
        load_predictor("zoo:gray")


def test_zoo_verify_and_remove(grey: Path) -> None:
    runner = CliRunner()
    verified = runner.invoke(cli, ["zoo", "verify"])
    assert verified.exit_code == 0 and verified.output == "grey: OK\nlenet-fashion: OK\n"  # the shipped one too
    weights = grey / "grey.caffemodel"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    damaged = runner.invoke(cli, ["zoo", "verify", "grey"])
    assert damaged.exit_code != 0 and "grey: FAILED: " in damaged.output and "does not match" in damaged.output
    removed = runner.invoke(cli, ["zoo", "remove", "grey"])
    assert removed.exit_code == 0 and not grey.exists()
    assert [p.name for p in grey.parent.iterdir()] == []
