"""zoo pull from an index, over a real HTTP server on 127.0.0.1: a good model, a wrong checksum, a
transfer broken off, a download over the index's size, unsafe archives; and the index's own rules.

After every refused pull the zoo holds what it held before: no entry, no hidden temporary file."""

from __future__ import annotations

import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from protonet.cli import cli
from protonet.deploy import deploy
from protonet.errors import ConfigError, DataError
from protonet.zoo import entry, pack, remove
from protonet.zoo_index import load_index, pull
from tests.local_http import LocalServer
from tests.test_zoo import entry_members, leftovers, member, probabilities, sha, tar_gz, trained_tiny


@pytest.fixture
def server() -> Iterator[LocalServer]:
    served = LocalServer()
    yield served
    served.close()


@pytest.fixture
def zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PROTONET_ZOO", str(tmp_path / "zoo"))
    monkeypatch.delenv("PROTONET_ZOO_INDEX", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "zoo"


@pytest.fixture
def archive(zoo: Path, tmp_path: Path) -> bytes:
    """The packed entry 'tiny', removed from the zoo again: the bytes a publisher would serve."""
    deploy(*trained_tiny(tmp_path), "tiny", metrics={"accuracy": 0.75})
    out, _ = pack("tiny", tmp_path / "tiny.tar.gz")
    np.save(tmp_path / "expected.npy", probabilities("tiny"))
    shutil.copytree(zoo / "tiny", tmp_path / "published")
    remove("tiny")
    assert leftovers(zoo) == []
    return out.read_bytes()


def index_file(tmp_path: Path, *models: dict) -> str:
    path = tmp_path / "index.yaml"
    path.write_text(yaml.safe_dump(list(models)))
    return str(path)


def model(server: LocalServer, data: bytes, name: str = "tiny", path: str = "/tiny.tar.gz", **changes: object) -> dict:
    server.files[path] = data
    return {"name": name, "url": server.url(path), "sha256": sha(data), "size": len(data),
            "metrics": {"accuracy": 0.75}, "license": "BSD-2-Clause", "description": "a tiny net", **changes}


def test_a_good_model_is_pulled_verified_and_installed(server: LocalServer, archive: bytes, zoo: Path,
                                                       tmp_path: Path) -> None:
    index = index_file(tmp_path, model(server, archive))
    listed = CliRunner().invoke(cli, ["zoo", "list", "--available", "--index", index])
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if line.startswith("tiny "))
    assert "accuracy=0.75" in row and "BSD-2-Clause" in row and " no " in row and row.endswith("a tiny net")

    pulled = CliRunner().invoke(cli, ["zoo", "pull", "tiny", "--index", index])
    assert pulled.exit_code == 0, pulled.output
    assert f"downloading {server.url('/tiny.tar.gz')}" in pulled.output and "installed tiny" in pulled.output
    np.testing.assert_array_equal(probabilities("tiny"), np.load(tmp_path / "expected.npy"))
    assert leftovers(zoo, "tiny") == []
    listed = CliRunner().invoke(cli, ["zoo", "list", "--available", "--index", index])
    assert " yes " in next(line for line in listed.output.splitlines() if line.startswith("tiny "))


def test_the_index_can_come_from_the_environment_and_from_a_url(server: LocalServer, archive: bytes, zoo: Path,
                                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    wrong = model(server, archive, sha256="0" * 64)
    monkeypatch.setenv("PROTONET_ZOO_INDEX", index_file(tmp_path, wrong, model(server, archive, name="other")))
    server.files["/index.yaml"] = yaml.safe_dump([model(server, archive)]).encode()
    models = load_index([server.url("/index.yaml")])
    assert models["tiny"].sha256 == sha(archive) and models["other"].size == len(archive)  # the URL's wins
    pull("tiny", index=[server.url("/index.yaml")])
    assert leftovers(zoo, "tiny") == []


def test_a_wrong_checksum_leaves_the_zoo_as_it_was(server: LocalServer, archive: bytes, zoo: Path,
                                                   tmp_path: Path) -> None:
    pull("tiny", index=[index_file(tmp_path, model(server, archive))])
    before = sorted((p.name, p.read_bytes()) for p in (zoo / "tiny").iterdir())
    wrong = ("1" if sha(archive)[0] == "0" else "0") + sha(archive)[1:]
    bad = model(server, archive[:-1] + bytes([archive[-1] ^ 1]), sha256=wrong, path="/bad.tar.gz")
    with pytest.raises(DataError, match="sha256 mismatch"):
        pull("tiny", index=[index_file(tmp_path, bad)], force=True)
    assert leftovers(zoo, "tiny") == []
    assert sorted((p.name, p.read_bytes()) for p in (zoo / "tiny").iterdir()) == before


def test_an_interrupted_transfer_leaves_nothing(server: LocalServer, archive: bytes, zoo: Path, tmp_path: Path) -> None:
    server.broken.add("/tiny.tar.gz")
    with pytest.raises(DataError, match=r"could not download .*: the transfer broke off after [0-9,]+ of [0-9,]+"):
        pull("tiny", index=[index_file(tmp_path, model(server, archive))])
    assert leftovers(zoo) == []


def test_a_download_larger_than_the_index_says_is_cut_off(server: LocalServer, archive: bytes, zoo: Path,
                                                          tmp_path: Path) -> None:
    with pytest.raises(DataError, match=f"is over {len(archive) - 10:,} bytes: not the published file"):
        pull("tiny", index=[index_file(tmp_path, model(server, archive, size=len(archive) - 10))])
    assert leftovers(zoo) == []


@pytest.mark.parametrize(("bad", "message"), [
    (member("tiny/../../evil", data=b"x"), "'..' component"),
    (member("/tmp/evil-pull", data=b"x"), "absolute path"),
    (member("tiny/link", tarfile.SYMTYPE, linkname="/etc/passwd"), "symbolic link"),
    (member("tiny/hard", tarfile.LNKTYPE, linkname="tiny/model.yaml"), "hard link"),
])
def test_unsafe_archives_are_refused(server: LocalServer, archive: bytes, zoo: Path, tmp_path: Path,
                                     bad: tuple, message: str) -> None:
    data = tar_gz(entry_members(tmp_path / "published") + [bad])  # a whole entry, and one bad member
    with pytest.raises(DataError, match=f"unsafe archive: .*{message}"):
        pull("tiny", index=[index_file(tmp_path, model(server, data))])
    assert leftovers(zoo) == []
    assert not (tmp_path / "evil").exists() and not Path("/tmp/evil-pull").exists()


def test_unknown_names_and_plain_http_elsewhere_are_refused(server: LocalServer, archive: bytes, zoo: Path,
                                                            tmp_path: Path) -> None:
    index = index_file(tmp_path, model(server, archive), model(server, archive, name="lenet-mnist"),
                       model(server, archive, name="far", url="http://models.example/far.tar.gz"))
    with pytest.raises(ConfigError, match=r"no model 'tinny' in the zoo index \(3 models\); did you mean 'tiny'\?"):
        pull("tinny", index=[index])
    with pytest.raises(DataError, match="refusing 'http://models.example/far.tar.gz': only https"):
        pull("far", index=[index])
    with pytest.raises(ConfigError, match=r"no model 'lenet-fashon' in the zoo .*did you mean 'lenet-fashion'"):
        entry("lenet-fashon")  # the entry shipped with the package counts
    assert leftovers(zoo) == []


@pytest.mark.parametrize(("text", "message"), [
    ("name: tiny\n", "a YAML list of models, not a dict"),
    ("- name: tiny\n  url: https://x.example/t.tar.gz\n  size: 10\n", "lacks a url or a 64-digit sha256"),
    (f"- name: tiny\n  url: https://x.example/t.tar.gz\n  sha256: {'a' * 64}\n", "lacks a size in bytes"),
    (f"- name: ../up\n  url: https://x.example/t.tar.gz\n  sha256: {'a' * 64}\n  size: 3\n", "no valid name"),
    ("- [unclosed\n", "unreadable zoo index"),
])
def test_a_bad_index_is_one_clear_error(zoo: Path, tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "index.yaml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_index([str(tmp_path / "index.yaml")])
    with pytest.raises(ConfigError, match="cannot read the zoo index"):
        load_index([str(tmp_path / "missing.yaml")])


def test_an_index_over_the_limit_is_refused_not_cut_short(zoo: Path, tmp_path: Path) -> None:
    one = f"- name: tiny\n  url: https://x.example/t.tar.gz\n  sha256: {'a' * 64}\n  size: 3\n"
    (tmp_path / "index.yaml").write_text(one * ((1 << 20) // len(one) + 1))  # whole entries past 1 MiB
    with pytest.raises(ConfigError, match="the zoo index is over the limit of 1 MiB"):
        load_index([str(tmp_path / "index.yaml")])


@pytest.mark.parametrize("url", ["http://127.0.0.1@evil.example/t.tar.gz", "http://localhost.evil.example/t.tar.gz",
                                 "http://127.0.0.2/t.tar.gz", "http://[::1]/t.tar.gz"])
def test_plain_http_is_for_this_machine_only(zoo: Path, url: str) -> None:
    from protonet.download import check_https

    with pytest.raises(DataError, match="only https"):
        check_https(url)


def test_pulling_an_entry_that_is_here_already_says_so(zoo: Path) -> None:
    with pytest.raises(ConfigError, match=r"'lenet-fashion' needs no pull: zoo:lenet-fashion is here already"):
        pull("lenet-fashion")
    with pytest.raises(ConfigError, match=r"no model 'lenet-fashon' in the zoo index .*did you mean 'lenet-fashion'"):
        pull("lenet-fashon")
