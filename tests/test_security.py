"""Security: files never run code, and errors reach the user as one line with a distinct exit code.

Static checks read the source of protonet/ for what would let a file run code (pickle, eval,
unsafe YAML, imports named by configs, shells); behavioural checks feed files built to run code
if they ever were (each would create a marker file) and check they are refused and nothing ran.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from protonet import Net, config, errors
from protonet.convert import convert_file
from protonet.errors import ConfigError, DataError, ProtonetError, WeightsError
from protonet.proto import pb
from tests.conftest_fuzz import LENET, zip_bytes

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "protonet").rglob("*.py"))


def source_lines(pattern: str) -> list[str]:
    """'path:line: text' of every source line of protonet/ matching `pattern` (comments included)."""
    found = []
    for path in SOURCES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(pattern, line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return found


# ------------------------------------------------------------------ the source


def test_sources_were_found():
    assert len(SOURCES) > 20 and any(p.name == "weights.py" for p in SOURCES)


def test_no_pickle_module_is_imported():
    assert not source_lines(r"^\s*(import|from)\s+(c?pickle|dill|shelve|marshal|joblib)\b"), \
        "pickle-like modules load code with data"


def test_numpy_never_loads_pickles():
    assert not source_lines(r"allow_pickle\s*=\s*True")
    loads = source_lines(r"\bnp\.load\(")
    assert loads and all("allow_pickle=False" in line for line in loads), loads


def test_no_eval_or_exec():
    assert not source_lines(r"(?<![\w.])(eval|exec|compile)\s*\(")


def test_yaml_is_only_read_safely():
    assert not source_lines(r"yaml\.(unsafe_load|full_load|load_all)\b|\b(Unsafe|Full)Loader\b")
    assert not source_lines(r"yaml\.Loader\b")
    loads = source_lines(r"yaml\.(load|compose|parse)\(")
    assert loads and all("SafeLoader" in line for line in loads), loads
    import yaml

    from protonet.config import SafeLoader

    assert SafeLoader in (getattr(yaml, "CSafeLoader", None), yaml.SafeLoader)


def test_no_imports_named_by_data():
    """importlib imports protonet's own layer modules, a Python layer's module (only when allowed, see
    tests/layers/test_python.py) and optional packages named in the code (extras.require); __import__ never."""
    assert not source_lines(r"__import__\s*\(")
    assert sorted(line.split(": ", 1)[1] for line in source_lines(r"import_module\(")) == [
        "found = importlib.import_module(module)",
        'importlib.import_module(f"{__package__}.{module.name}")',
        "return importlib.import_module(module)"]
    requires = source_lines(r"(?<!def )\brequire\(")
    assert requires and all(re.search(r"\brequire\(\"[\w.]+\", \"\w+\", ", line) for line in requires), requires


def test_no_shell_commands():
    assert not source_lines(r"shell\s*=\s*True|os\.system\(|os\.popen\(|os\.exec\w*\(|os\.spawn\w*\(")


def test_no_plain_http_urls():
    assert not source_lines(r"[\"']http://")


# ------------------------------------------------------------------ pickles in .npz / .npy


class Marker:
    """Unpickling this creates the file `path` (by calling open(path, 'w')): evidence that code ran."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def pickled_npy(marker: Path) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.array([Marker(marker)], dtype=object), allow_pickle=True)
    return buffer.getvalue()


@pytest.fixture
def pickled_npz(tmp_path: Path) -> tuple[Path, Path]:
    """(an .npz whose 'ip1/0' is a pickled object array, the marker file unpickling would create)."""
    marker = tmp_path / "code-ran"
    path = tmp_path / "weights.npz"
    path.write_bytes(zip_bytes({"ip1/0.npy": pickled_npy(marker)}))
    return path, marker


def test_pickled_npz_weights_are_refused_by_copy_from(pickled_npz):
    path, marker = pickled_npz
    net = Net(config.parse(LENET, pb.NetParameter()))
    with pytest.raises(WeightsError, match="array 'ip1/0' holds object values.*pickled Python objects"):
        net.copy_from(path)
    assert not marker.exists()


@pytest.mark.parametrize("target", ["out.caffemodel", "out.solverstate"])
def test_pickled_npz_is_refused_by_convert(pickled_npz, target):
    path, marker = pickled_npz
    with pytest.raises(WeightsError, match="object"):
        convert_file(str(path), str(path.parent / target))
    assert not marker.exists() and not (path.parent / target).exists()


def test_pickled_npy_is_refused_by_convert(tmp_path: Path):
    marker, path = tmp_path / "code-ran", tmp_path / "mean.npy"
    path.write_bytes(pickled_npy(marker))
    with pytest.raises(WeightsError, match="object"):
        convert_file(str(path), str(tmp_path / "mean.binaryproto"))
    assert not marker.exists()


def test_pickled_npz_data_is_refused(tmp_path: Path):
    npz = pytest.importorskip("protonet.data.npz")
    marker, path = tmp_path / "code-ran", tmp_path / "data.npz"
    path.write_bytes(zip_bytes({"data.npy": pickled_npy(marker)}))
    with pytest.raises(DataError):
        npz.read_npz(path)
    assert not marker.exists()


# ------------------------------------------------------------------ YAML tags


PYTHON_TAGS = [
    '!!python/object/apply:os.system ["touch {marker}"]\n',
    'name: !!python/object/apply:os.system ["touch {marker}"]\n',
    'name: !!python/object/apply:os.system {{args: ["touch {marker}"]}}\n',
    'layer:\n  - name: x\n    type: !!python/object/new:os.system ["touch {marker}"]\n',
    'layer:\n  - !!python/object/apply:os.system ["touch {marker}"]\n',
    'name: !!python/name:os.system\n',
    'name: !!python/str LeNet\n',
    'name: !local LeNet\n',
]


@pytest.mark.parametrize("text", PYTHON_TAGS)
def test_yaml_with_a_python_tag_is_refused_and_runs_nothing(tmp_path: Path, text: str):
    marker, path = tmp_path / "code-ran", tmp_path / "net.yaml"
    path.write_text(text.format(marker=marker))
    with pytest.raises(ConfigError, match=r"net\.yaml:\d+: YAML tag '!.*' is not allowed"):
        Net(path)
    with pytest.raises(ConfigError, match="is not allowed"):
        config.load_solver(path)
    assert not marker.exists()


def test_a_python_tag_in_a_set_override_is_refused():
    solver = pb.SolverParameter()
    with pytest.raises(ConfigError, match="is not allowed"):
        config.set_field(solver, "type", '!!python/object/apply:os.system ["true"]')


def test_standard_yaml_tags_are_still_plain_values():
    net = config.parse("name: !!str 12\nlayer: !!seq []\n", pb.NetParameter(), syntax="yaml")
    assert net.name == "12" and not net.layer


# ------------------------------------------------------------------ Python layers

PYTHON_LAYERS = {
    "prototxt": 'layer {{ name: "py" type: "Python" top: "y" '
                'python_param {{ module: "{module}" layer: "L" }} }}',
    "yaml": "layer:\n  - {{name: py, type: Python, top: y, python_param: {{module: {module}, layer: L}}}}\n",
}


@pytest.mark.parametrize("syntax", PYTHON_LAYERS)
def test_a_python_layer_is_refused_and_its_module_never_imported(tmp_path: Path, monkeypatch, syntax: str):
    marker = tmp_path / "code-ran"
    (tmp_path / "evil_layer_module.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / ("net.yaml" if syntax == "yaml" else "net.prototxt")
    path.write_text(PYTHON_LAYERS[syntax].format(module="evil_layer_module"))
    with pytest.raises(ConfigError) as info:
        Net(path)
    assert ("layer 'py': layer type 'Python' would import and run module 'evil_layer_module'; refused; "
            "pass --allow-python-layers if you trust this file") in str(info.value)
    assert not marker.exists() and "evil_layer_module" not in sys.modules


# ------------------------------------------------------------------ downloads


def test_downloads_use_https_only(monkeypatch):
    datasets = pytest.importorskip("protonet.data.datasets")
    download = pytest.importorskip("protonet.download")
    assert all(url.startswith("https://") for info in datasets.DATASETS.values() for url in info.mirrors)
    opened = []
    monkeypatch.setattr(download, "open_url", lambda url, timeout: opened.append(url))
    for url in ("http://example.com/x.gz", "ftp://example.com/x.gz", "file:///etc/passwd", "//example.com/x",
                "http://localhost/x.gz", "http://127.0.0.1.example.com/x.gz"):  # plain http to 127.0.0.1 only
        with pytest.raises(DataError, match="only https URLs"):
            download.download(url, io.BytesIO(), max_bytes=1 << 20)
    assert not opened


def test_a_redirect_away_from_https_is_refused(monkeypatch):
    download = pytest.importorskip("protonet.download")

    class Redirected(io.BytesIO):
        def geturl(self) -> str:
            return "http://mirror.example.com/x.gz"

    monkeypatch.setattr(download, "open_url", lambda url, timeout: Redirected(b"data"))
    written = io.BytesIO()
    with pytest.raises(DataError, match="only https URLs"):
        download.download("https://example.com/x.gz", written, max_bytes=1 << 20)
    assert written.getvalue() == b""


# ------------------------------------------------------------------ error kinds and the CLI


def error_kinds() -> list[type[ProtonetError]]:
    kinds = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, ProtonetError)]
    return sorted(kinds, key=lambda kind: kind.exit_code)


def test_each_error_kind_has_its_own_exit_code():
    kinds = error_kinds()
    assert {k.__name__ for k in kinds} >= {"ConfigError", "DataError", "WeightsError", "NumericalError",
                                           "StorageError"}
    codes = [k.exit_code for k in kinds]
    assert len(set(codes)) == len(codes) and all(0 < c < 126 for c in codes), dict(zip(kinds, codes))


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "protonet.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def bad_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text("layer:\n  - name: conv\n    type: Convolutionn\n    top: x\n")
    return path


def test_the_cli_reports_a_bad_config_in_one_line(bad_yaml: Path):
    result = run_cli("check", "--model", str(bad_yaml), cwd=bad_yaml.parent)
    assert result.returncode == ConfigError.exit_code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"protonet: error: {bad_yaml}")
    assert "unknown layer type 'Convolutionn'" in lines[0]


def test_the_cli_shows_the_traceback_when_verbose(bad_yaml: Path):
    result = run_cli("--verbose", "check", "--model", str(bad_yaml), cwd=bad_yaml.parent)
    assert result.returncode == ConfigError.exit_code
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("protonet: error: ")


def test_the_cli_reports_corrupt_weights_with_their_exit_code(tmp_path: Path):
    (tmp_path / "bad.caffemodel").write_bytes(b"\x0a\xff\xff\xff\xff\x0f")
    result = run_cli("convert", "bad.caffemodel", "out.npz", cwd=tmp_path)
    assert result.returncode == WeightsError.exit_code
    assert result.stderr.startswith("protonet: error: bad.caffemodel: ") and result.stderr.count("\n") == 1
    assert not (tmp_path / "out.npz").exists()
