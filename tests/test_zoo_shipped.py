"""The zoo entry the package ships, lenet-fashion: it classifies real Fashion-MNIST pictures, fine-tunes
from a low loss, loses to a user's entry of the same name, and cannot be removed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from protonet.cli import cli
from protonet.data.idx import read_idx
from protonet.errors import ConfigError, DataError
from protonet.zoo import SHIPPED, entry, remove, resolve_model
from tests.test_zoo import trained_tiny

ROOT = Path(__file__).resolve().parents[1]
Image = pytest.importorskip("PIL.Image")


def fashion_test_set() -> Path:
    from protonet.data import find_dataset

    try:
        return find_dataset("fashion-mnist")
    except DataError:
        pytest.skip("Fashion-MNIST is not installed (scripts/test.sh gets it)")


@pytest.fixture
def empty_zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PROTONET_ZOO", str(tmp_path / "zoo"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "zoo"


def test_the_shipped_entry_is_whole_and_says_how_it_was_trained(empty_zoo: Path) -> None:
    folder, meta = entry("lenet-fashion")
    assert folder == SHIPPED / "lenet-fashion"
    assert meta["training"]["command"] == "protonet train --solver configs/lenet/solver.yaml"
    assert 0.85 < meta["metrics"]["accuracy"] < 1
    assert sum(p.stat().st_size for p in folder.iterdir()) < 4 << 20
    assert CliRunner().invoke(cli, ["zoo", "verify", "lenet-fashion"]).output == "lenet-fashion: OK\n"
    listing = CliRunner().invoke(cli, ["zoo", "list"]).output
    assert any(line.startswith("lenet-fashion* ") for line in listing.splitlines())


def test_it_classifies_real_fashion_mnist_pictures(empty_zoo: Path, tmp_path: Path) -> None:
    folder = fashion_test_set()
    images = read_idx(folder / "t10k-images-idx3-ubyte.gz")[:200]
    labels = read_idx(folder / "t10k-labels-idx1-ubyte.gz")[:200]
    paths = []
    for k, pixels in enumerate(images):
        paths.append(tmp_path / f"item{k}.png")
        Image.fromarray(pixels).save(paths[-1])
    result = CliRunner().invoke(cli, ["predict", "--model", "zoo:lenet-fashion", "--json", "--top-k", "1",
                                      *map(str, paths)])
    assert result.exit_code == 0, result.output
    best = [json.loads(line)["top"][0] for line in result.output.splitlines()]
    names = (SHIPPED / "lenet-fashion" / "labels.txt").read_text().splitlines()
    assert np.mean([item["index"] for item in best] == labels) >= 0.85
    assert [item["label"] for item in best[:3]] == [names[i] for i in (item["index"] for item in best[:3])]


def test_fine_tuning_from_it_starts_at_a_low_loss(empty_zoo: Path, tmp_path: Path) -> None:
    fashion_test_set()
    prefix = tmp_path / "run" / "lenet"
    overrides = ["max_iter=3", "display=1", "test_iter=1", "test_interval=1000", "snapshot=0",
                 f"snapshot_prefix={prefix}"]
    result = CliRunner().invoke(cli, ["train", "--solver", str(ROOT / "configs/lenet/solver.yaml"),
                                      "--weights", "zoo:lenet-fashion", *sum([["--set", o] for o in overrides], [])])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in (tmp_path / "run" / "lenet_metrics.jsonl").read_text().splitlines()]
    losses = [e["loss"] for e in events if e.get("phase") == "train" and "loss" in e]
    assert losses and losses[0] < 0.6  # from scratch it starts near ln(10) = 2.3


def test_a_users_entry_of_the_same_name_comes_first(empty_zoo: Path, tmp_path: Path) -> None:
    from protonet.deploy import deploy

    deploy(*trained_tiny(tmp_path), "lenet-fashion")
    assert resolve_model("zoo:lenet-fashion") == str(empty_zoo / "lenet-fashion" / "deploy.yaml")
    listing = CliRunner().invoke(cli, ["zoo", "list"]).output.splitlines()
    assert [line.split()[0] for line in listing[1:]] == ["lenet-fashion"]
    remove("lenet-fashion")
    assert entry("lenet-fashion")[0] == SHIPPED / "lenet-fashion"
    with pytest.raises(ConfigError, match="'lenet-fashion' ships with protonet and cannot be removed"):
        remove("lenet-fashion")
    assert yaml.safe_load((SHIPPED / "lenet-fashion" / "model.yaml").read_text())["name"] == "lenet-fashion"
