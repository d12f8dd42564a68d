"""The zoo index: models that `protonet zoo pull NAME` downloads, verifies and installs.

An index is a YAML list with one mapping per model:

    - name: lenet-fashion                 # the entry's name once installed
      url: https://example.org/lenet-fashion.tar.gz   # an archive made by 'protonet zoo pack'
      sha256: 3f5a...                     # of the archive, 64 hexadecimal digits
      size: 1612345                       # of the archive in bytes: the download may be no larger
      metrics: {accuracy: 0.91}           # optional, as in model.yaml
      license: BSD-2-Clause               # optional
      description: LeNet on Fashion-MNIST # optional

The package ships one (protonet/models/index.yaml); $PROTONET_ZOO_INDEX and each `--index` add one more
(a file or an https URL), a later index's model replacing an earlier one's of the same name. A pull
goes through `zoo.install`: the archive is downloaded to a hidden file (capped at `size`), its sha256
checked, then extracted safely and validated before the entry is renamed into the zoo.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .archive import SCHEME, fetch
from .errors import ConfigError, did_you_mean
from .io import open_regular
from .zoo import HEX64, NAME_PATTERN, SHIPPED, Log, entries, install

SHIPPED_INDEX = SHIPPED / "index.yaml"
INDEX_VARIABLE = "PROTONET_ZOO_INDEX"
MAX_INDEX_BYTES = 1 << 20


@dataclass(frozen=True)
class IndexEntry:
    name: str
    url: str
    sha256: str
    size: int
    metrics: dict = field(default_factory=dict)
    license: str = ""
    description: str = ""


def index_sources(extra: tuple[str, ...] | list[str] = ()) -> list[str]:
    """The indexes read, in order: the package's, $PROTONET_ZOO_INDEX's, then `extra`."""
    from_environment = os.environ.get(INDEX_VARIABLE, "").strip()
    return [str(SHIPPED_INDEX), *([from_environment] if from_environment else []), *extra]


def load_index(extra: tuple[str, ...] | list[str] = ()) -> dict[str, IndexEntry]:
    """Name -> model of every index (index_sources), later indexes replacing earlier names."""
    models: dict[str, IndexEntry] = {}
    for source in index_sources(extra):
        models.update((item.name, item) for item in read_index(source))
    return models


def read_index(source: str) -> list[IndexEntry]:
    """The models of one index file or https URL, each checked (see the module's docstring)."""
    try:
        items = yaml.safe_load(_read(source).decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"unreadable zoo index ({type(exc).__name__})", file=source,
                          hint="it must be a YAML list of models") from None
    if items is None:
        return []
    if not isinstance(items, list):
        raise ConfigError(f"a zoo index is a YAML list of models, not a {type(items).__name__}", file=source)
    return [_entry(item, k, source) for k, item in enumerate(items)]


def _read(source: str) -> bytes:
    if SCHEME.match(source):
        buffer = io.BytesIO()
        fetch(source, buffer, lambda message: None, size=MAX_INDEX_BYTES)
        return buffer.getvalue()
    try:
        with open_regular(source) as handle:
            data = handle.read(MAX_INDEX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read the zoo index ({exc.strerror or exc})", file=source,
                          hint=f"give a YAML file or an https URL with --index or ${INDEX_VARIABLE}") from None
    if len(data) > MAX_INDEX_BYTES:
        raise ConfigError(f"the zoo index is over the limit of {MAX_INDEX_BYTES >> 20} MiB", file=source,
                          hint="split it into several files, each given with its own --index")
    return data


def _entry(item: object, k: int, source: str) -> IndexEntry:
    def refuse(why: str) -> ConfigError:
        return ConfigError(f"model {k} of the index {why}", file=source,
                           hint="each needs name, url, sha256 (64 hex digits) and size (bytes)")

    if not isinstance(item, dict):
        raise refuse("is not a mapping")
    name, url, digest, size = (item.get(key) for key in ("name", "url", "sha256", "size"))
    if not (isinstance(name, str) and NAME_PATTERN.fullmatch(name)):
        raise refuse(f"has no valid name ({name!r})")
    if not isinstance(url, str) or not HEX64.fullmatch(str(digest)):
        raise refuse(f"('{name}') lacks a url or a 64-digit sha256")
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise refuse(f"('{name}') lacks a size in bytes")
    metrics = item.get("metrics") if isinstance(item.get("metrics"), dict) else {}
    return IndexEntry(name, url, str(digest).lower(), size, metrics, str(item.get("license") or ""),
                      str(item.get("description") or ""))


def pull(name: str, *, index: tuple[str, ...] | list[str] = (), force: bool = False,
         log: Log | None = None) -> Path:
    """Download model `name` of the index, verify it and install it in the zoo; returns its folder."""
    models = load_index(index)
    if name not in models:
        known = {folder.name for folder, _, _ in entries()}
        raise ConfigError(f"no model '{name}' in the zoo index ({len(models)} models)",
                          hint=did_you_mean(name, models) or (f"'{name}' needs no pull: zoo:{name} is here already"
                                                              if name in known else did_you_mean(name, known))
                          or "'protonet zoo list --available' lists them")
    item = models[name]
    return install(item.url, item.sha256, name=name, force=force, log=log, size=item.size)
