"""The model zoo: list, show, pack and install, with installs from strangers refused unless safe.

Every install test checks that a refused archive leaves nothing behind: no entry, no temporary file
or folder in the zoo, nothing written outside it. No test reaches the network: downloads go through
a replaced `protonet.download.open_url`.
"""

from __future__ import annotations

import email.message
import gzip
import hashlib
import io
import tarfile
import urllib.request
import urllib.response
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from protonet import Net, archive, download
from protonet.cli import cli
from protonet.config import load_solver
from protonet.deploy import deploy
from protonet.errors import ConfigError, DataError, ProtonetError, WeightsError
from protonet.zoo import install, pack, resolve_model, resolve_weights, zoo_dir

TRAIN_VAL = """name: "tiny"
layer { name: "data" type: "DummyData" top: "data" top: "label"
  dummy_data_param { shape { dim: 2 dim: 3 } shape { dim: 2 } } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
  inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 0.5 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
"""
X = np.array([[1.0, -2.0, 0.5]], np.float32)
OPEN_URL = download.open_url


@pytest.fixture
def zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty zoo folder (not yet created) and a network that fails the test if anything opens it."""
    monkeypatch.setenv("PROTONET_ZOO", str(tmp_path / "zoo"))
    monkeypatch.chdir(tmp_path)

    def no_network(url: str, timeout: float) -> None:
        raise AssertionError(f"the test tried to open {url}")

    monkeypatch.setattr(download, "open_url", no_network)
    return tmp_path / "zoo"


@pytest.fixture
def tiny(zoo: Path, tmp_path: Path) -> Path:
    """Zoo entry 'tiny' (DummyData -> InnerProduct -> SoftmaxWithLoss) made by protonet.deploy."""
    return deploy(*trained_tiny(tmp_path), "tiny", dataset="toy", metrics={"accuracy": 0.75, "loss": 0.5})


def trained_tiny(folder: Path) -> tuple[Path, Path]:
    """TRAIN_VAL as folder/train_val.prototxt and a caffemodel of its seeded weights beside it."""
    model = folder / "train_val.prototxt"
    model.write_text(TRAIN_VAL)
    weights = folder / "tiny.caffemodel"
    Net(str(model), phase="TRAIN", seed=3).save(weights)
    return model, weights


def test_an_entry_keeps_its_solver_pointing_at_its_own_train_val(zoo: Path, tmp_path: Path):
    model, weights = trained_tiny(tmp_path)
    (tmp_path / "solver.prototxt").write_text('net: "train_val.prototxt"\nbase_lr: 0.1\nmax_iter: 2\n')
    folder = deploy(model, weights, "tiny", solver=tmp_path / "solver.prototxt")
    moved = tmp_path / "elsewhere"
    folder.rename(moved)
    model.unlink()  # the entry needs nothing from where it was trained
    assert "net: train_val.yaml" in (moved / "solver.yaml").read_text()
    assert load_solver(moved / "solver.yaml").net == str(moved / "train_val.yaml")


def probabilities(name: str) -> np.ndarray:
    net = Net(resolve_model(f"zoo:{name}"), weights=resolve_weights(f"zoo:{name}"))
    return net.forward(data=X)["prob"]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def leftovers(zoo: Path, *keep: str) -> list[str]:
    """Everything in the zoo folder but the named entries (hidden temporary files included)."""
    return sorted(p.name for p in zoo.iterdir() if p.name not in keep) if zoo.exists() else []


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **fields: object) -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, len(data) if kind == tarfile.REGTYPE else 0
    for key, value in fields.items():
        setattr(info, key, value)
    return info, data


def tar_gz(members: list[tuple]) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb") as compressed, \
            tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def entry_members(folder: Path, root: str = "tiny") -> list[tuple]:
    return [member(f"{root}/{p.name}", data=p.read_bytes()) for p in sorted(folder.iterdir())]


def entry_with(folder: Path, name: str, data: bytes) -> bytes:
    """The .tar.gz of entry 'tiny' with member `name`'s contents replaced by `data`."""
    return tar_gz([m if m[0].name != name else member(name, data=data) for m in entry_members(folder)])


def install_bytes(tmp_path: Path, data: bytes, **options: object) -> Path:
    source = tmp_path / "upload.tar.gz"
    source.write_bytes(data)
    return install(str(source), sha(data), **options)


# ------------------------------------------------------------------ pack and install


def test_pack_then_install_round_trip_loads_the_same_net(tiny: Path, zoo: Path, tmp_path: Path):
    expected = probabilities("tiny")
    out, digest = pack("tiny", tmp_path / "tiny.tar.gz")
    assert digest == sha(out.read_bytes())
    with tarfile.open(out) as tar:
        assert sorted(tar.getnames()) == ["tiny/deploy.yaml", "tiny/model.yaml", "tiny/tiny.caffemodel",
                                          "tiny/train_val.yaml"]
        assert all(m.isreg() for m in tar.getmembers())

    folder = install(str(out), digest, name="tiny-copy")
    assert folder == zoo / "tiny-copy" and leftovers(zoo, "tiny", "tiny-copy") == []
    np.testing.assert_array_equal(probabilities("tiny-copy"), expected)


def test_pack_is_deterministic_and_leaves_out_symlinks(tiny: Path, tmp_path: Path):
    (tiny / "elsewhere").symlink_to(tmp_path / "train_val.prototxt")
    _, first = pack("tiny", tmp_path / "a.tar.gz")
    _, second = pack("tiny", tmp_path / "b.tar.gz")
    assert first == second
    with tarfile.open(tmp_path / "a.tar.gz") as tar:
        assert "tiny/elsewhere" not in tar.getnames()
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically: no temporary file stays


def test_pack_refuses_a_damaged_entry(tiny: Path, tmp_path: Path):
    (tiny / "tiny.caffemodel").write_bytes(b"changed")
    with pytest.raises(WeightsError, match="does not match"):
        pack("tiny", tmp_path / "x.tar.gz")
    assert not (tmp_path / "x.tar.gz").exists()


def test_an_https_download_installs(tiny: Path, zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    out, digest = pack("tiny", tmp_path / "tiny.tar.gz")
    opened = []

    def fake_open(url: str, timeout: float) -> io.BytesIO:
        opened.append(url)
        response = io.BytesIO(out.read_bytes())
        response.geturl = lambda: url
        response.headers = {"Content-Length": str(out.stat().st_size)}
        return response

    monkeypatch.setattr(download, "open_url", fake_open)
    install("https://models.example/tiny.tar.gz", digest, name="fetched")
    assert opened == ["https://models.example/tiny.tar.gz"]
    np.testing.assert_array_equal(probabilities("fetched"), probabilities("tiny"))
    assert leftovers(zoo, "tiny", "fetched") == []


def test_an_existing_entry_is_kept_without_force_and_replaced_with_it(tiny: Path, zoo: Path, tmp_path: Path):
    out, digest = pack("tiny", tmp_path / "tiny.tar.gz")
    before = (tiny / "model.yaml").read_bytes()
    (tiny / "note.txt").write_text("old")
    with pytest.raises(ConfigError, match="exists already"):
        install(str(out), digest)
    assert (tiny / "note.txt").exists() and leftovers(zoo, "tiny") == []

    install(str(out), digest, force=True)
    assert not (tiny / "note.txt").exists() and (tiny / "model.yaml").read_bytes() == before
    assert leftovers(zoo, "tiny") == []


def test_force_keeps_the_old_entry_when_the_new_one_fails_validation(tiny: Path, zoo: Path, tmp_path: Path):
    with pytest.raises(WeightsError, match="does not match the metadata"):
        install_bytes(tmp_path, entry_with(tiny, "tiny/tiny.caffemodel", b"tampered"), force=True)
    assert leftovers(zoo, "tiny") == []
    assert resolve_weights("zoo:tiny")  # the old entry is whole


@pytest.mark.parametrize("name", ["../escape", ".hidden", "a/b", "", "x" * 101])
def test_an_invalid_entry_name_is_refused(tiny: Path, zoo: Path, tmp_path: Path, name: str):
    out, digest = pack("tiny", tmp_path / "tiny.tar.gz")
    with pytest.raises(ConfigError, match="not a valid zoo entry name"):
        install(str(out), digest, name=name)
    assert leftovers(zoo, "tiny") == []


# ------------------------------------------------------------------ source and checksum rules


@pytest.mark.parametrize("url", ["http://models.example/tiny.tar.gz", "HTTP://models.example/x.tar.gz",
                                 "file:///etc/passwd", "ftp://models.example/tiny.tar.gz",
                                 "data:application/gzip;base64,AAAA", "hxxps://models.example/x"])
def test_non_https_urls_are_refused(zoo: Path, url: str):
    with pytest.raises(DataError, match="only https URLs"):
        install(url, "0" * 64)
    assert leftovers(zoo) == []


def test_a_redirect_to_plain_http_is_refused(tiny: Path, zoo: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch):
    out, digest = pack("tiny", tmp_path / "tiny.tar.gz")

    def redirected(url: str, timeout: float) -> io.BytesIO:
        response = io.BytesIO(out.read_bytes())
        response.geturl = lambda: "http://mirror.example/tiny.tar.gz"
        response.headers = {}
        return response

    monkeypatch.setattr(download, "open_url", redirected)
    with pytest.raises(DataError, match="refusing 'http://mirror.example"):
        install("https://models.example/tiny.tar.gz", digest, name="fetched")
    assert leftovers(zoo, "tiny") == []


def test_the_redirect_handler_refuses_non_https_before_following():
    handler = download.HttpsOnlyRedirects()
    request = urllib.request.Request("https://models.example/a.tar.gz")
    for target in ("http://mirror.example/a.tar.gz", "ftp://mirror.example/a.tar.gz", "file:///etc/passwd"):
        with pytest.raises(DataError, match="only https"):
            handler.redirect_request(request, None, 302, "Found", {}, target)
    followed = handler.redirect_request(request, None, 302, "Found", {}, "https://mirror.example/a.tar.gz")
    assert followed.full_url == "https://mirror.example/a.tar.gz"


class FakeHttps(urllib.request.HTTPSHandler):
    """urllib's https handler replaced by a table: URL -> (status, Location or body); no socket is opened."""

    def __init__(self, routes: dict[str, tuple[int, bytes | str]]) -> None:
        super().__init__()
        self.routes, self.opened = routes, []

    def https_open(self, req: urllib.request.Request) -> urllib.response.addinfourl:
        self.opened.append(req.full_url)
        status, answer = self.routes[req.full_url]
        headers = email.message.Message()
        if status in (301, 302, 303, 307, 308):
            headers["Location"] = answer
            answer = b""
        response = urllib.response.addinfourl(io.BytesIO(answer), headers, req.full_url, status)
        response.msg = "Found" if answer == b"" else "OK"
        return response


@pytest.mark.parametrize("hop", ["http://mirror.example/t.tar.gz", "ftp://mirror.example/t.tar.gz",
                                 "file:///etc/passwd"])
def test_urllib_redirects_are_followed_to_https_only(tiny: Path, zoo: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch, hop: str):
    """The real open_url, its redirect handler inside urllib's machinery, over a fake https transport."""
    out, digest = pack("tiny", tmp_path / "tiny.tar.gz")
    routes = {"https://models.example/t.tar.gz": (302, "https://mirror.example/t.tar.gz"),
              "https://mirror.example/t.tar.gz": (200, out.read_bytes()),
              "https://models.example/bad.tar.gz": (301, hop)}
    transport = FakeHttps(routes)
    monkeypatch.setattr(download, "open_url", OPEN_URL)
    monkeypatch.setattr(download, "build_opener", lambda *ours: urllib.request.build_opener(*ours, transport))

    install("https://models.example/t.tar.gz", digest, name="fetched")
    assert transport.opened == ["https://models.example/t.tar.gz", "https://mirror.example/t.tar.gz"]
    with pytest.raises(DataError, match="only https|is not allowed"):  # urllib itself refuses file:
        install("https://models.example/bad.tar.gz", digest, name="other")
    assert transport.opened[-1] == "https://models.example/bad.tar.gz"  # the hop itself was never opened
    assert leftovers(zoo, "tiny", "fetched") == []


def test_a_sha256_mismatch_leaves_nothing_and_unpacks_nothing(tiny: Path, zoo: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch):
    out, digest = pack("tiny", tmp_path / "tiny.tar.gz")

    def must_not_run(*args: object) -> None:
        raise AssertionError("the archive was unpacked before its sha256 was checked")

    monkeypatch.setattr(archive, "safe_extract", must_not_run)
    wrong = ("0" if digest[0] != "0" else "1") + digest[1:]
    with pytest.raises(DataError, match="sha256 mismatch"):
        install(str(out), wrong, name="other")
    assert leftovers(zoo, "tiny") == []


def test_a_sha256_mismatch_in_a_fresh_zoo_leaves_not_even_the_folder(zoo: Path, tmp_path: Path):
    source = tmp_path / "junk.tar.gz"
    source.write_bytes(b"junk")
    with pytest.raises(DataError, match="sha256 mismatch"):
        install(str(source), "a" * 64)
    assert not zoo.exists()


@pytest.mark.parametrize("digest", ["abc", "g" * 64, "0" * 65])
def test_a_malformed_sha256_is_refused(zoo: Path, tmp_path: Path, digest: str):
    with pytest.raises(ConfigError, match="64 hexadecimal digits"):
        install(str(tmp_path / "missing.tar.gz"), digest)


def test_a_missing_local_archive_is_a_clear_error(zoo: Path, tmp_path: Path):
    with pytest.raises(DataError, match="cannot read the archive"):
        install(str(tmp_path / "missing.tar.gz"), "a" * 64)
    assert leftovers(zoo) == []


# ------------------------------------------------------------------ unsafe archives

OUTSIDE = "outside the archive's one top-level"
UNSAFE = {
    "absolute path": ([member("/tmp/evil", data=b"x")], "absolute path"),
    "dot-dot component": ([member("tiny/../../evil", data=b"x")], "'..' component"),
    "symlink": ([member("tiny/link", tarfile.SYMTYPE, linkname="/etc/passwd")], "symbolic link"),
    "hard link": ([member("tiny/hard", tarfile.LNKTYPE, linkname="tiny/model.yaml")], "hard link"),
    "character device": ([member("tiny/dev", tarfile.CHRTYPE, devmajor=1, devminor=3)], "character device"),
    "block device": ([member("tiny/disk", tarfile.BLKTYPE, devmajor=8, devminor=0)], "block device"),
    "fifo": ([member("tiny/pipe", tarfile.FIFOTYPE)], "FIFO"),
    "second top-level folder": ([member("other/model.yaml", data=b"x")], OUTSIDE),
    "file beside the folder": ([member("README", data=b"x")], OUTSIDE),
    "repeated name": ([member("tiny/model.yaml", data=b"again")], "repeats or collides"),
    "file under a file": ([member("tiny/model.yaml/x", data=b"x")], "repeats or collides"),
}


@pytest.mark.parametrize("case", list(UNSAFE))
def test_an_unsafe_member_refuses_the_whole_archive(tiny: Path, zoo: Path, tmp_path: Path, case: str):
    bad, message = UNSAFE[case]
    data = tar_gz(entry_members(tiny) + bad)  # valid members first: still nothing may be extracted
    with pytest.raises(DataError, match=message) as caught:
        install_bytes(tmp_path, data, name="fresh")
    assert "\n" not in str(caught.value)
    assert leftovers(zoo, "tiny") == []
    assert not (tmp_path / "evil").exists() and not Path("/tmp/evil").exists()

    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(DataError, match=message):
        archive.safe_extract(tmp_path / "upload.tar.gz", dest)
    assert list(dest.iterdir()) == []


def test_an_unsafe_member_first_is_refused_too(zoo: Path, tmp_path: Path):
    with pytest.raises(DataError, match="'..' component"):
        install_bytes(tmp_path, tar_gz([member("../evil", data=b"x")]))
    assert leftovers(zoo) == [] and not (tmp_path / "evil").exists()


def test_too_many_members_are_refused(tiny: Path, zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(archive, "MAX_MEMBERS", 3)
    with pytest.raises(DataError, match="limit of 3 members"):
        install_bytes(tmp_path, tar_gz(entry_members(tiny)), name="fresh")
    assert leftovers(zoo, "tiny") == []


def test_too_many_bytes_are_refused(tiny: Path, zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(archive, "MAX_TOTAL_BYTES", 1 << 20)
    members = entry_members(tiny) + [member("tiny/huge.bin", data=bytes(2 << 20))]
    with pytest.raises(DataError, match="over the limit of 1 MiB"):
        install_bytes(tmp_path, tar_gz(members), name="fresh")
    assert leftovers(zoo, "tiny") == []


def test_a_huge_pax_header_is_stopped_not_read_into_memory(zoo: Path, tmp_path: Path):
    """A 1 MiB member name travels in a pax header that precedes any member tarfile would hand over."""
    data = tar_gz([member("tiny/" + "a" * (1 << 20), data=b"x")])
    with pytest.raises(DataError, match="unpacks to more than its headers declare"):
        install_bytes(tmp_path, data)
    assert leftovers(zoo) == []


@pytest.mark.parametrize("data", [b"not a gzip file", gzip.compress(b"not a tar file" * 100), b""])
def test_an_archive_that_is_no_tar_gz_is_refused(zoo: Path, tmp_path: Path, data: bytes):
    with pytest.raises(DataError, match="not a readable .tar.gz|archive is empty"):
        install_bytes(tmp_path, data)
    assert leftovers(zoo) == []


# ------------------------------------------------------------------ metadata rules


def with_meta(tiny: Path, **changes: object) -> bytes:
    meta = yaml.safe_load((tiny / "model.yaml").read_text())
    meta.update(changes)
    return entry_with(tiny, "tiny/model.yaml", yaml.safe_dump(meta).encode())


@pytest.mark.parametrize(("changes", "message"), [
    ({"weights": None}, "lacks 'deploy' or 'weights'"),
    ({"weights": {"file": "tiny.caffemodel"}}, "64-digit 'sha256'"),
    ({"deploy": "../../outside.yaml"}, "field 'deploy' names '../../outside.yaml'"),
    ({"deploy": "/etc/passwd"}, "field 'deploy' names '/etc/passwd'"),
    ({"train_val": "missing.yaml"}, "field 'train_val'"),
])
def test_bad_metadata_is_refused(tiny: Path, zoo: Path, tmp_path: Path, changes: dict, message: str):
    with pytest.raises(ConfigError, match=message):
        install_bytes(tmp_path, with_meta(tiny, **changes), name="fresh")
    assert leftovers(zoo, "tiny") == []


def test_metadata_with_a_python_tag_is_refused(tiny: Path, zoo: Path, tmp_path: Path):
    members = [member("tiny/model.yaml", data=b"name: !!python/object/apply:os.system ['touch pwned']\n")]
    with pytest.raises(ConfigError, match="unreadable metadata"):
        install_bytes(tmp_path, tar_gz(members), name="fresh")
    assert leftovers(zoo, "tiny") == [] and not (tmp_path / "pwned").exists()


# ------------------------------------------------------------------ the CLI


def test_cli_list_show_pack_install(tiny: Path, zoo: Path, tmp_path: Path):
    runner = CliRunner()
    listing = runner.invoke(cli, ["zoo", "list"])
    assert listing.exit_code == 0, listing.output
    row = next(line for line in listing.output.splitlines() if line.startswith("tiny "))
    assert row.split() == ["tiny", "classification", "toy", "accuracy=0.75",
                           f"{(tiny / 'tiny.caffemodel').stat().st_size}", "B"]

    shown = runner.invoke(cli, ["zoo", "show", "tiny"])
    assert shown.exit_code == 0, shown.output
    assert "dataset: toy" in shown.output and "weights sha256: OK" in shown.output

    packed = runner.invoke(cli, ["zoo", "pack", "tiny", str(tmp_path / "t.tar.gz")])
    assert packed.exit_code == 0, packed.output
    digest = packed.output.split("sha256 ")[1].strip()
    assert digest == sha((tmp_path / "t.tar.gz").read_bytes())

    installed = runner.invoke(cli, ["zoo", "install", str(tmp_path / "t.tar.gz"), "--sha256", digest,
                                    "--name", "copy"])
    assert installed.exit_code == 0, installed.output
    assert "installed copy" in installed.output
    np.testing.assert_array_equal(probabilities("copy"), probabilities("tiny"))
    names = [line.split()[0] for line in runner.invoke(cli, ["zoo", "list"]).output.splitlines()[1:]]
    assert [name for name in names if not name.endswith("*")] == ["copy", "tiny"]  # '*': shipped with protonet


def test_cli_pack_defaults_to_name_tar_gz(tiny: Path, tmp_path: Path):
    result = CliRunner().invoke(cli, ["zoo", "pack", "tiny"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "tiny.tar.gz").is_file()


def test_cli_show_reports_a_mismatch(tiny: Path):
    (tiny / "tiny.caffemodel").write_bytes(b"changed")
    result = CliRunner().invoke(cli, ["zoo", "show", "tiny"])
    assert "weights sha256: MISMATCH (found " + sha(b"changed") in result.output
    assert isinstance(result.exception, WeightsError)


def test_cli_list_survives_a_broken_entry(tiny: Path, zoo: Path):
    (zoo / "broken").mkdir()
    (zoo / "broken" / "model.yaml").write_text("just text")
    result = CliRunner().invoke(cli, ["zoo", "list"])
    assert result.exit_code == 0, result.output
    assert any(line.startswith("broken ") and "(broken)" in line for line in result.output.splitlines())


def test_cli_list_of_an_empty_zoo_shows_the_shipped_entries_only(zoo: Path):
    result = CliRunner().invoke(cli, ["zoo", "list"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines[1:-1]] == ["lenet-fashion*"]
    assert lines[-1].startswith("* shipped with protonet")


@pytest.mark.parametrize(("args", "kind", "message"), [
    (["zoo", "install", "http://models.example/t.tar.gz", "--sha256", "0" * 64], DataError, "only https"),
    (["zoo", "show", "nothing"], ConfigError, "no model 'nothing'"),
    (["zoo", "pack", "nothing"], ConfigError, "no model 'nothing'"),
])
def test_cli_errors_are_protonet_errors(zoo: Path, args: list[str], kind: type, message: str):
    result = CliRunner().invoke(cli, args)
    assert isinstance(result.exception, kind) and message in str(result.exception)
    assert isinstance(result.exception, ProtonetError)
    assert zoo_dir() == zoo and leftovers(zoo) == []
