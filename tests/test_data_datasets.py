"""Datasets: local copies, verified downloads (never the internet: the opener is replaced), aliases."""

from __future__ import annotations

import gzip
import hashlib
import io
from pathlib import Path

import numpy as np
import pytest

from protonet import download
from protonet.data import datasets
from protonet.data.datasets import DataFile, Dataset, content_sha256, find_dataset, get_dataset
from protonet.data.idx import write_idx
from protonet.data.sources import open_source
from protonet.errors import DataError

MIRRORS = ("https://one.example/tiny/", "https://two.example/tiny/")


def tiny_files(folder: Path) -> dict[str, bytes]:
    """A four-file IDX dataset 'tiny' in `folder`; returns the gzipped bytes by file name."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"train-images-idx3-ubyte.gz": np.arange(3 * 4 * 4, dtype=np.uint8).reshape(3, 4, 4),
              "train-labels-idx1-ubyte.gz": np.array([2, 0, 1], np.uint8),
              "t10k-images-idx3-ubyte.gz": np.full((2, 4, 4), 7, np.uint8),
              "t10k-labels-idx1-ubyte.gz": np.array([1, 1], np.uint8)}
    for name, array in arrays.items():
        write_idx(folder / name, array)
    return {name: (folder / name).read_bytes() for name in arrays}


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """Register dataset 'tiny' (its published files in tmp/published), with no system copy and no network."""
    published = tiny_files(tmp_path / "published")
    files = {name: DataFile(name, hashlib.sha256(gzip.decompress(raw)).hexdigest())
             for name, raw in published.items()}
    names = list(files)
    info = Dataset("tiny", MIRRORS, {"train": (files[names[0]], files[names[1]]),
                                     "test": (files[names[2]], files[names[3]])})
    monkeypatch.setitem(datasets.DATASETS, "tiny", info)
    monkeypatch.setattr(datasets, "SYSTEM_DIRS", (tmp_path / "system",))
    monkeypatch.setenv("PROTONET_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(download, "open_url", refuse_network)
    return published


def refuse_network(url, timeout=None):
    raise AssertionError(f"no network in tests: {url}")


class FakeResponse(io.BytesIO):
    def __init__(self, data: bytes, url: str) -> None:
        super().__init__(data)
        self.url = url
        self.headers = {"Content-Length": str(len(data))}

    def geturl(self) -> str:
        return self.url


def serve(files: dict[str, bytes], calls: list[str], redirect: str | None = None, fail: tuple[str, ...] = ()):
    def opener(url, timeout=None):
        calls.append(url)
        if url.startswith(fail):
            raise OSError("connection refused")
        return FakeResponse(files[url.rsplit("/", 1)[1]], redirect or url)
    return opener


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_uses_a_local_copy_without_network(tiny, tmp_path):
    tiny_files(tmp_path / "system" / "tiny")
    dest = get_dataset("tiny", tmp_path / "out")
    assert dest == tmp_path / "out"
    assert listing(dest) == sorted(tiny)
    assert all((dest / name).read_bytes() == raw for name, raw in tiny.items())


def test_default_destination_and_files_already_there_are_kept(tiny, tmp_path):
    tiny_files(tmp_path / "data" / "tiny")
    mtimes = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "data" / "tiny").iterdir()}
    messages = []
    assert get_dataset("tiny", log=messages.append) == tmp_path / "data" / "tiny"
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "data" / "tiny").iterdir()} == mtimes
    assert len(messages) == 4 and all("checksum ok" in m for m in messages)


def test_downloads_and_verifies(tiny, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(download, "open_url", serve(tiny, calls))
    dest = get_dataset("tiny", tmp_path / "out")
    assert listing(dest) == sorted(tiny)
    assert calls == [MIRRORS[0] + name for name in tiny]


def test_unreachable_mirror_falls_back_to_the_next(tiny, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(download, "open_url", serve(tiny, calls, fail=(MIRRORS[0],)))
    get_dataset("tiny", tmp_path / "out")
    assert [c for c in calls if c.startswith(MIRRORS[1])] == [MIRRORS[1] + name for name in tiny]


def test_all_mirrors_unreachable(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(download, "open_url", serve(tiny, [], fail=MIRRORS))
    with pytest.raises(DataError, match="could not download train-images.*connection refused"):
        get_dataset("tiny", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_checksum_mismatch_leaves_nothing_behind(tiny, tmp_path, monkeypatch):
    wrong = dict(tiny)
    wrong["train-labels-idx1-ubyte.gz"] = gzip.compress(b"\0\0\x08\x01\0\0\0\x03\x09\x09\x09")
    monkeypatch.setattr(download, "open_url", serve(wrong, []))
    with pytest.raises(DataError, match="checksum mismatch for train-labels-idx1-ubyte.gz"):
        get_dataset("tiny", tmp_path / "out")
    assert listing(tmp_path / "out") == ["train-images-idx3-ubyte.gz"]  # the file before it; no temporary


def test_checksum_mismatch_in_a_new_folder_removes_it(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(download, "open_url", serve({name: gzip.compress(b"junk") for name in tiny}, []))
    with pytest.raises(DataError, match="checksum mismatch"):
        get_dataset("tiny", tmp_path / "new" / "out")
    assert listing(tmp_path / "new") == []


def test_corrupt_local_copy_is_an_error_and_not_installed(tiny, tmp_path):
    tiny_files(tmp_path / "system" / "tiny")
    (tmp_path / "system" / "tiny" / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b broken")
    with pytest.raises(DataError, match="checksum mismatch"):
        get_dataset("tiny", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_non_https_urls_are_refused(tiny, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(download, "open_url", serve(tiny, calls))
    splits = datasets.DATASETS["tiny"].splits
    monkeypatch.setitem(datasets.DATASETS, "tiny", Dataset("tiny", ("http://one.example/tiny/",), splits))
    with pytest.raises(DataError, match="only https"):
        get_dataset("tiny", tmp_path / "out")
    assert calls == [] and not (tmp_path / "out").exists()


def test_redirect_to_http_is_refused(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(download, "open_url", serve(tiny, [], redirect="http://evil.example/x.gz"))
    with pytest.raises(DataError, match="refusing 'http://evil"):
        get_dataset("tiny", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset 'fashion-mnis'.*did you mean 'fashion-mnist'"):
        get_dataset("fashion-mnis")


def test_find_dataset_prefers_the_data_folder_then_the_system_copy(tiny, tmp_path):
    with pytest.raises(DataError, match="run `protonet data get tiny`"):
        find_dataset("tiny")
    tiny_files(tmp_path / "system" / "tiny")
    assert find_dataset("tiny") == tmp_path / "system" / "tiny"
    tiny_files(tmp_path / "data" / "tiny")
    assert find_dataset("tiny") == tmp_path / "data" / "tiny"


def test_alias_reads_the_split(tiny, tmp_path):
    folder = tmp_path / "data" / "tiny"
    tiny_files(folder)
    (folder / "t10k-images-idx3-ubyte.gz").unlink()  # an uncompressed copy serves as well
    (folder / "t10k-images-idx3-ubyte").write_bytes(gzip.decompress(tiny["t10k-images-idx3-ubyte.gz"]))
    train = open_source("tiny:train", base_dir=tmp_path)
    assert train.images.shape == (3, 1, 4, 4) and train.labels.tolist() == [2, 0, 1]
    test = open_source("tiny:test", base_dir=tmp_path)
    assert test.images.shape == (2, 1, 4, 4) and int(test.images.max()) == 7
    with pytest.raises(DataError, match="has no split 'val'.*train, test"):
        open_source("tiny:val", base_dir=tmp_path)


def test_alias_checks_the_content(tiny, tmp_path):
    folder = tmp_path / "data" / "tiny"
    tiny_files(folder)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.array([2, 0, 9], np.uint8))
    with pytest.raises(DataError, match="does not match the published checksum"):
        open_source("tiny:train", base_dir=tmp_path)


def test_missing_alias_names_the_folder_and_the_command(tiny, tmp_path):
    with pytest.raises(DataError) as info:
        open_source("tiny:train", base_dir=tmp_path)
    assert str((tmp_path / "data" / "tiny").resolve()) in str(info.value)
    assert "protonet data get tiny" in str(info.value)


@pytest.mark.parametrize("name, folder", [("mnist", ("data", "mnist")), ("fashion-mnist", None)])
def test_known_checksums_match_real_copies(name, folder):
    from tests.conftest import shared_path

    where = shared_path(*folder) if folder else Path("/usr/share/datasets/fashion-mnist")
    if not where.exists():
        pytest.skip(f"{where} is not available")
    for file in datasets.DATASETS[name].files:
        assert content_sha256(where / file.name) == file.sha256, file.name


def test_get_fashion_mnist_from_the_debian_copy(tmp_path, monkeypatch):
    if not (Path("/usr/share/datasets/fashion-mnist") / "train-labels-idx1-ubyte.gz").exists():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    monkeypatch.setattr(download, "open_url", refuse_network)
    dest = get_dataset("fashion-mnist", tmp_path / "fm")
    assert listing(dest) == sorted(f.name for f in datasets.DATASETS["fashion-mnist"].files)
