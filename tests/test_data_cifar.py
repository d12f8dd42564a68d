"""CIFAR-10: `protonet data get cifar10` from a small generated archive in the layout of CIFAR's binary
archive, served from 127.0.0.1 or given with --from; what it writes is what Caffe's examples/cifar10
scripts write; configs/cifar10_quick trains on it."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from protonet import Solver
from protonet.cli import cli
from protonet.config import load_net, load_solver
from protonet.data import cifar, datasets
from protonet.data.datasets import Archive, get_dataset
from protonet.data.sources import open_source
from protonet.data.tools import mean, open_records
from protonet.data.transform import read_mean_file
from protonet.errors import DataError
from protonet.proto import pb

from .local_http import LocalServer
from .test_db_helpers import caffe_datum, read_lmdb

lmdb = pytest.importorskip("lmdb")

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "cifar10_quick"
BINARY = "cifar-10-binary.tar.gz"


def coloured(count: int, rng: np.random.Generator) -> cifar.Split:
    """An easy pattern: each class its own colour, plus a little noise."""
    labels = rng.integers(0, 10, count).astype(np.uint8)
    colours = np.stack([40 + 20 * labels, 220 - 20 * labels, 128 + 12 * (labels % 5)], axis=1)
    noisy = colours[:, :, None, None] + rng.normal(0, 8, (count, *cifar.SHAPE))
    return np.clip(noisy, 0, 255).astype(np.uint8), labels


def add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    member = tarfile.TarInfo(name)
    member.size = len(data)
    tar.addfile(member, io.BytesIO(data))


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> tuple[Path, dict[str, cifar.Split]]:
    """A folder with the archive of one small CIFAR-format dataset (100 train, 30 test records)."""
    folder = tmp_path_factory.mktemp("published")
    rng = np.random.default_rng(1701)
    splits = {"train": coloured(100, rng), "test": coloured(30, rng)}
    cifar.write_binary_archive(folder / BINARY, splits)
    return folder, splits


@pytest.fixture
def server(published, tmp_path, monkeypatch):
    """CIFAR-10 registered with the small archive's md5 and mirrored on a local server; $PROTONET_DATA in tmp."""
    folder, _ = published
    serving = LocalServer({f"/kriz/{BINARY}": (folder / BINARY).read_bytes()})
    info = datasets.DATASETS["cifar10"]
    monkeypatch.setitem(datasets.DATASETS, "cifar10", dataclasses.replace(
        info, mirrors=(serving.url("/kriz/"),), archive=Archive(BINARY, md5(folder / BINARY), 1 << 20)))
    monkeypatch.setenv("PROTONET_DATA", str(tmp_path / "data"))
    yield serving
    serving.close()


def test_get_downloads_checks_and_writes_what_caffe_writes(server, published, tmp_path):
    _, splits = published
    log = []
    dest = get_dataset("cifar10", log=log.append)
    assert dest == tmp_path / "data" / "cifar10"
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        [BINARY, "cifar10_train_lmdb", "cifar10_test_lmdb", "mean.binaryproto", "train-images-idx4-ubyte",
         "train-labels-idx1-ubyte", "test-images-idx4-ubyte", "test-labels-idx1-ubyte"])
    assert server.requests == [f"/kriz/{BINARY}"]
    for split, (images, labels) in splits.items():  # convert_cifar_data: keys %05d, raw 3x32x32 RGB Datums
        assert read_lmdb(dest / f"cifar10_{split}_lmdb") == [
            (b"%05d" % i, caffe_datum(image, int(label))) for i, (image, label) in enumerate(zip(images, labels))]
        for source in (f"cifar10:{split}", str(dest / f"{split}-images-idx4-ubyte")):  # labels found beside it
            records = open_source(source, base_dir=tmp_path)
            assert np.array_equal(records.images, images) and np.array_equal(records.labels, labels)
    computed = read_mean_file(str(dest / "mean.binaryproto"), tmp_path)
    assert computed.shape == (1, 3, 32, 32)
    np.testing.assert_allclose(computed[0], splits["train"][0].mean(axis=0), rtol=1e-6)
    _, by_the_tool = mean(open_records(str(dest / "cifar10_train_lmdb")), tmp_path / "tool.binaryproto")
    assert (tmp_path / "tool.binaryproto").read_bytes() == (dest / "mean.binaryproto").read_bytes()

    get_dataset("cifar10", log=log.append)  # everything there: nothing fetched or written again
    assert server.requests == [f"/kriz/{BINARY}"] and log[-1] == f"{dest}: present"


def test_a_wrong_checksum_keeps_nothing(server, published, monkeypatch, tmp_path):
    info = datasets.DATASETS["cifar10"]
    monkeypatch.setitem(datasets.DATASETS, "cifar10", dataclasses.replace(
        info, archive=Archive(BINARY, "0" * 32, 1 << 20)))
    with pytest.raises(DataError, match=f"checksum mismatch for {BINARY} from http://127.0.0.1"):
        get_dataset("cifar10")
    assert server.requests and not (tmp_path / "data" / "cifar10").exists()


def test_a_truncated_transfer_leaves_nothing_partial(server, tmp_path):
    server.broken.add(f"/kriz/{BINARY}")
    size = len(server.files[f"/kriz/{BINARY}"])
    with pytest.raises(DataError, match=f"could not download {BINARY} .*: the transfer broke off after "
                                        f"{size // 2:,} of {size:,} bytes") as info:
        get_dataset("cifar10")
    assert "--from FILE" in info.value.hint
    assert not (tmp_path / "data" / "cifar10").exists()


def test_a_download_over_the_size_cap_is_refused(server, published, monkeypatch, tmp_path):
    info = datasets.DATASETS["cifar10"]
    monkeypatch.setitem(datasets.DATASETS, "cifar10", dataclasses.replace(
        info, archive=dataclasses.replace(info.archive, max_bytes=1000)))
    with pytest.raises(DataError, match="is over 1,000 bytes: not the published file"):
        get_dataset("cifar10")
    assert not (tmp_path / "data" / "cifar10").exists()


def test_from_a_local_copy(server, published, tmp_path):
    folder, splits = published
    result = CliRunner().invoke(cli, ["data", "get", "cifar10", "--from", str(folder / BINARY),
                                      "--dest", str(tmp_path / "here")])
    assert result.exit_code == 0, result.output
    assert f"{folder / BINARY}: md5 ok" in result.output and server.requests == []
    assert BINARY not in {p.name for p in (tmp_path / "here").iterdir()}  # read in place, not copied
    images, labels = splits["test"]
    assert read_lmdb(tmp_path / "here" / "cifar10_test_lmdb")[-1] == (b"00029", caffe_datum(images[-1], labels[-1]))


def test_from_a_file_that_is_not_the_archive(server, tmp_path, monkeypatch):
    other = tmp_path / "other.tar.gz"
    other.write_bytes(b"not cifar")
    with pytest.raises(DataError, match=f"md5 {md5(other)} is not that of {BINARY} "):
        get_dataset("cifar10", tmp_path / "out", local=other)
    monkeypatch.setattr(cifar, "PYTHON_ARCHIVE_MD5", md5(other))
    with pytest.raises(DataError, match="is CIFAR-10's python archive: its batches are pickles, which can run code"):
        get_dataset("cifar10", tmp_path / "out", local=other)
    assert not (tmp_path / "out").exists()
    with pytest.raises(DataError, match="not made from an archive"):
        get_dataset("mnist", tmp_path / "out", local=other)


@pytest.mark.parametrize("data, message", [
    (b"\0" * (cifar.RECORD_BYTES + 1), "holds 3074 bytes, not a whole number of 3073-byte records"),
    (bytes([10]) + b"\0" * (cifar.RECORD_BYTES - 1), "holds label 10; CIFAR-10's are 0..9"),
])
def test_a_damaged_binary_batch(data, message):
    with pytest.raises(DataError, match=message):
        cifar.read_binary(data, "data_batch_1.bin")


def test_an_archive_without_the_batches(tmp_path):
    with tarfile.open(tmp_path / "a.tar.gz", "w:gz") as tar:
        add_member(tar, "cifar-10-batches-bin/data_batch_1.bin", b"\0" * cifar.RECORD_BYTES)
    with pytest.raises(DataError, match="has no CIFAR-10 batch data_batch_2, .*, test_batch"):
        cifar.read_archive(tmp_path / "a.tar.gz")


def test_the_configs_are_caffes_recipe():
    net = load_net(CONFIGS / "train_val.yaml")
    assert net == load_net(CONFIGS / "train_val.prototxt")
    for layer, split, phase in zip(net.layer[:2], ("train", "test"), (pb.TRAIN, pb.TEST)):
        assert (layer.type, layer.include[0].phase, layer.data_param.source, layer.data_param.batch_size,
                layer.data_param.backend, layer.transform_param.mean_file) == \
            ("Data", phase, f"data/cifar10/cifar10_{split}_lmdb", 100, pb.DataParameter.LMDB,
             "data/cifar10/mean.binaryproto")
    solver = load_solver(CONFIGS / "solver.yaml")
    assert solver == load_solver(CONFIGS / "solver.prototxt")
    assert (solver.base_lr, solver.momentum, solver.weight_decay, solver.lr_policy, solver.max_iter,
            solver.test_interval, list(solver.test_iter), solver.snapshot, Path(solver.net)) == \
        (pytest.approx(0.001), pytest.approx(0.9), pytest.approx(0.004), "fixed", 4000, 500, [100], 4000,
         CONFIGS / "train_val.yaml")
    second = load_solver(CONFIGS / "solver_lr1.yaml")
    assert (second.base_lr, second.max_iter, second.snapshot, second.weight_decay) == \
        (pytest.approx(0.0001), 5000, 5000, pytest.approx(0.004))


@pytest.mark.slow
def test_cifar10_quick_learns_from_what_get_writes(published, tmp_path, monkeypatch):
    """Caffe's recipe (lr 0.001, momentum 0.9, decay 0.004, the LMDBs and the mean), on batches of 10 for
    30 iterations of the easy colour pattern: the test loss falls below ln 10, accuracy well above 1/10."""
    folder, _ = published
    info = datasets.DATASETS["cifar10"]
    monkeypatch.setitem(datasets.DATASETS, "cifar10", dataclasses.replace(
        info, archive=Archive(BINARY, md5(folder / BINARY), 1 << 20)))
    monkeypatch.chdir(tmp_path)
    get_dataset("cifar10", "data/cifar10", local=folder / BINARY)
    solver = Solver(CONFIGS / "solver.yaml", [
        "max_iter=30", "test_interval=30", "test_iter=3", "snapshot=0", "display=0", "random_seed=1701",
        "snapshot_after_train=false", "net.layer[0].data_param.batch_size=10",
        "net.layer[1].data_param.batch_size=10"])
    untrained = solver.test_all()[0]
    solver.solve()
    trained = solver.test_scores[0]
    assert untrained["loss"] > 2.2 and trained["loss"] < 2.0
    assert trained["accuracy"] > 0.3
