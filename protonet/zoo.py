"""The model zoo: one folder per model with model.yaml, deploy.yaml and the weights (sha256-checked).

Entries are listed, packed into .tar.gz files to share, and installed from such files or https URLs:
the archive's sha256 is checked before it is opened, it is extracted safely (protonet.archive), and
the entry is validated before it is renamed into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import yaml

from . import config
from .errors import ConfigError, DataError, ProtonetError, WeightsError, did_you_mean
from .io import atomic_write, fsync_dir, hex_digest, open_regular, write_error

PREFIX = "zoo:"


SHIPPED = Path(__file__).resolve().parent / "models"  # entries that come with the package


def zoo_dir() -> Path:
    return Path(os.environ.get("PROTONET_ZOO", "zoo"))


def roots() -> tuple[Path, Path]:
    """Where entries are looked up, first match wins: the user's zoo, then the package's own models."""
    return zoo_dir(), SHIPPED


def sha256_of(path: str | Path) -> str:
    with open_regular(path) as handle:
        return hex_digest(handle)


def entry(name: str) -> tuple[Path, dict]:
    """The folder and metadata of zoo model `name`: the user's entry, else the package's own of that name."""
    for root in roots():
        meta_file = root / name / "model.yaml"
        if NAME_PATTERN.fullmatch(name) and meta_file.is_file():
            return root / name, yaml.safe_load(meta_file.read_text()) or {}
    known = [p.name for root in roots() for p in root.glob("*") if (p / "model.yaml").is_file()]
    raise ConfigError(f"no model '{name}' in the zoo at {zoo_dir()}",
                      hint=did_you_mean(name, known) or "create one with 'protonet deploy' or 'protonet zoo pull'")


def resolve_model(spec: str) -> str:
    """`zoo:NAME` -> the model's deploy net file; any other value is a path, returned as is."""
    if not spec.startswith(PREFIX):
        return spec
    folder, meta = entry(spec[len(PREFIX):])
    return str(folder / meta.get("deploy", "deploy.yaml"))


def resolve_scoring_model(spec: str) -> str:
    """`zoo:NAME` -> the model's train_val net (its data and metrics layers) when it has one, else its deploy net."""
    if not spec.startswith(PREFIX):
        return spec
    folder, meta = entry(spec[len(PREFIX):])
    train_val = meta.get("train_val")
    return str(folder / train_val) if train_val and (folder / train_val).is_file() else resolve_model(spec)


def resolve_weights(spec: str) -> str:
    """`zoo:NAME` -> the model's weights file after its sha256 is verified; a path as is."""
    if not spec.startswith(PREFIX):
        return spec
    return entry_weights(*entry(spec[len(PREFIX):]))


def entry_weights(folder: Path, meta: dict) -> str:
    """The weights file of the entry in `folder`, once its sha256 matches the metadata's."""
    path = folder / meta["weights"]["file"]
    expected = meta["weights"].get("sha256")
    if expected and sha256_of(path) != expected:
        raise WeightsError("sha256 does not match the zoo metadata", file=str(path),
                           hint="the file was changed or damaged; deploy the model again")
    return str(path)


# ------------------------------------------------------------------ listing, packing, installing

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
HEX64 = re.compile(r"[0-9a-fA-F]{64}")
FILE_FIELDS = ("deploy", "train_val", "solver", "labels")
Log = Callable[[str], None]


def entries() -> list[tuple[Path, dict | None, str | None]]:
    """(folder, metadata, problem) of every entry, the user's and the package's not shadowed by one of
    the user's, sorted by name; metadata None when model.yaml is unreadable."""
    found: dict[str, tuple[Path, dict | None, str | None]] = {}
    for root in roots():
        for folder in sorted(root.iterdir()) if root.is_dir() else []:
            if folder.name.startswith(".") or not (folder / "model.yaml").is_file() or folder.name in found:
                continue  # hidden: an install in progress
            try:
                found[folder.name] = (folder, read_meta(folder), None)
            except ProtonetError as exc:
                found[folder.name] = (folder, None, exc.message)
    return [found[name] for name in sorted(found)]


def entry_row(folder: Path, meta: dict | None, problem: str | None) -> tuple[str, str, str, str, str]:
    """What `protonet zoo list` shows of an entry: name, task, dataset, main metric, weights size
    (a name the package ships is marked with '*').

    The main metric is `main_metric` when the metadata names one, else accuracy, else the first metric.
    """
    name = folder.name + ("*" if folder.parent == SHIPPED else "")
    if meta is None:
        return name, "(broken)", "-", (problem or "")[:22], "-"
    metrics = meta.get("metrics") if isinstance(meta.get("metrics"), dict) else {}
    key = meta.get("main_metric") or ("accuracy" if "accuracy" in metrics else next(iter(metrics), None))
    metric = f"{key}={metrics[key]}" if key in metrics else "-"
    weights = folder / meta["weights"]["file"]
    size = human_size(weights.stat().st_size) if weights.is_file() else "missing"
    return name, str(meta.get("task") or "-"), str(meta.get("dataset") or "-"), metric, size


def human_size(size: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def read_meta(folder: Path) -> dict:
    """model.yaml of `folder`, parsed safely and checked: a mapping with deploy and weights {file, sha256}."""
    meta_file = folder / "model.yaml"
    try:
        meta = yaml.safe_load(meta_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"unreadable metadata ({type(exc).__name__})", file=str(meta_file),
                          hint="it must be the YAML written by 'protonet deploy'") from None
    weights = meta.get("weights") if isinstance(meta, dict) else None
    if not (isinstance(weights, dict) and isinstance(meta.get("deploy"), str)
            and isinstance(weights.get("file"), str) and HEX64.fullmatch(str(weights.get("sha256", "")))):
        raise ConfigError("metadata lacks 'deploy' or 'weights' with 'file' and a 64-digit 'sha256'",
                          file=str(meta_file), hint="it must be the YAML written by 'protonet deploy'")
    return meta


def check_weights(folder: Path, meta: dict) -> tuple[bool, str]:
    """(whether the weights file's sha256 matches the metadata, the sha256 found or 'missing')."""
    path = folder / meta["weights"]["file"]
    if not path.is_file():
        return False, "missing"
    actual = sha256_of(path)
    return actual == meta["weights"]["sha256"].lower(), actual


def validate_entry(folder: Path) -> dict:
    """The metadata of an entry folder once it is whole: files named inside it, weights sha256 matching.

    Every file model.yaml names must be a plain relative name of a regular file in the folder (a name
    with '..' or an absolute path could point anywhere), the deploy net must parse, and the weights
    must have the recorded sha256. Raises ConfigError or WeightsError otherwise.
    """
    meta = read_meta(folder)
    transform = meta.get("transform") if isinstance(meta.get("transform"), dict) else {}
    named = [(key, meta.get(key)) for key in FILE_FIELDS] + [("weights.file", meta["weights"]["file"]),
                                                             ("transform.mean_file", transform.get("mean_file"))]
    for key, name in named:
        if name is None and key not in ("deploy", "weights.file"):
            continue
        path = PurePosixPath(str(name))
        if not isinstance(name, str) or path.is_absolute() or ".." in path.parts or "\\" in name \
                or not (folder / name).is_file() or (folder / name).is_symlink():
            raise ConfigError(f"metadata field '{key}' names '{name}', which is no file inside the entry",
                              file=str(folder / "model.yaml"), hint="the entry is incomplete or unsafe")
    config.load_net(folder / meta["deploy"])
    matches, actual = check_weights(folder, meta)
    if not matches:
        expected = meta["weights"]["sha256"]
        raise WeightsError(f"weights sha256 {actual} does not match the metadata's {expected}",
                           file=str(folder / meta["weights"]["file"]), hint="the entry is damaged or altered")
    return meta


def verify(name: str) -> dict:
    """Check entry `name` whole: its files and weights' sha256 (validate_entry), then that the deploy net
    builds with the weights and runs one forward pass on zeros. Returns its metadata."""
    from .net import Net

    folder, _ = entry(check_name(name))
    meta = validate_entry(folder)
    net = Net(folder / meta["deploy"], weights=folder / meta["weights"]["file"], phase="TEST")
    net.forward()
    return meta


def remove(name: str) -> Path:
    """Delete entry `name`: moved aside to a hidden name first (one rename), then removed."""
    folder, _ = entry(check_name(name))
    if folder.parent == SHIPPED:
        raise ConfigError(f"'{name}' ships with protonet and cannot be removed", file=str(folder),
                          hint="an entry of yours of the same name, in the zoo, is used instead of it")
    aside = Path(tempfile.mkdtemp(prefix=f".removed-{name}-", dir=folder.parent)) / "entry"
    os.rename(folder, aside)
    shutil.rmtree(aside.parent, ignore_errors=True)
    return folder


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name) or name in (".", ".."):
        raise ConfigError(f"'{name}' is not a valid zoo entry name",
                          hint="use letters, digits, '.', '_' and '-', starting with a letter or digit")
    return name


def pack(name: str, out: str | Path | None = None) -> tuple[Path, str]:
    """Write zoo entry `name` (checked whole first) as a gzipped tar to `out`; returns (path, sha256)."""
    from .archive import pack_folder

    folder, _ = entry(check_name(name))
    validate_entry(folder)
    out = Path(out or f"{name}.tar.gz")
    data = pack_folder(folder, name)
    atomic_write(out, data)
    return out, hashlib.sha256(data).hexdigest()


def install(source: str, sha256: str, *, name: str | None = None, force: bool = False,
            log: Log | None = None, size: int | None = None) -> Path:
    """Install a packed entry from a local .tar.gz or an https URL (at most `size` bytes when given);
    returns the entry folder.

    The archive goes to a hidden temporary file in the zoo folder and its sha256 must equal `sha256`
    before it is opened; then it is extracted safely (protonet.archive) into a hidden temporary folder,
    validated (validate_entry) and renamed into place. An existing entry is replaced only with `force`,
    and only once the new one has validated. On any failure nothing is left behind.
    """
    from .archive import fetch, safe_extract

    log = log or (lambda message: None)
    if not HEX64.fullmatch(sha256):
        raise ConfigError(f"--sha256 must be 64 hexadecimal digits, not '{sha256}'",
                          hint="take it from whoever published the archive ('protonet zoo pack' prints it)")
    if name is not None:
        check_free(check_name(name), force)
    root = zoo_dir()
    created = not root.exists()
    archive = work = None
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, archive_name = tempfile.mkstemp(prefix=".install-", suffix=".tar.gz", dir=root)
        archive = Path(archive_name)
        with os.fdopen(fd, "wb") as handle:
            actual = fetch(source, handle, log, size=size)
        if actual != sha256.lower():
            raise DataError(f"sha256 mismatch: expected {sha256.lower()}, got {actual}", file=source,
                            hint="the archive is not the published one; nothing was installed")
        work = Path(tempfile.mkdtemp(prefix=".install-", dir=root))
        top = safe_extract(archive, work, shown_as=source)
        name = name or check_name(top)
        meta = validate_entry(work / top)
        check_free(name, force)
        target = root / name
        move_into_place(work / top, target)
        log(f"installed {name} ({meta.get('task') or 'model'}) to {target}")
        return target
    except OSError as exc:
        raise write_error(exc, root, "nothing was installed") from None
    finally:
        if archive is not None:
            with contextlib.suppress(OSError):
                archive.unlink()
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):
                root.rmdir()  # only when still empty: the install failed


def check_free(name: str, force: bool) -> None:
    if not force and (zoo_dir() / name).exists():
        raise ConfigError(f"zoo entry '{name}' exists already", file=str(zoo_dir() / name),
                          hint="give --force to replace it, or --name to install under another name")


def move_into_place(new: Path, target: Path) -> None:
    """Rename `new` to `target`; an existing `target` is moved aside first and removed after."""
    old = None
    if target.exists() or target.is_symlink():
        old = Path(tempfile.mkdtemp(prefix=f".replaced-{target.name}-", dir=target.parent)) / "entry"
        os.rename(target, old)
    try:
        os.rename(new, target)
    except OSError:
        if old is not None:  # put the old entry back (should that fail, it stays in the hidden folder)
            os.rename(old, target)
            old.parent.rmdir()
        raise
    fsync_dir(target.parent)
    if old is not None:
        shutil.rmtree(old.parent, ignore_errors=True)
