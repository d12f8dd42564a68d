"""The model zoo: one folder per model with model.yaml, deploy.yaml and the weights (sha256-checked)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import yaml

from .errors import ConfigError, WeightsError, did_you_mean

PREFIX = "zoo:"


def zoo_dir() -> Path:
    return Path(os.environ.get("PROTONET_ZOO", "zoo"))


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def entry(name: str) -> tuple[Path, dict]:
    """The folder and metadata of zoo model `name`."""
    folder = zoo_dir() / name
    meta_file = folder / "model.yaml"
    if not meta_file.exists():
        known = [p.name for p in zoo_dir().glob("*") if (p / "model.yaml").exists()]
        raise ConfigError(f"no model '{name}' in the zoo at {zoo_dir()}",
                          hint=did_you_mean(name, known) or "create one with 'protonet deploy'")
    meta = yaml.safe_load(meta_file.read_text()) or {}
    return folder, meta


def resolve_model(spec: str) -> str:
    """`zoo:NAME` -> the model's deploy net file; any other value is a path, returned as is."""
    if not spec.startswith(PREFIX):
        return spec
    folder, meta = entry(spec[len(PREFIX):])
    return str(folder / meta.get("deploy", "deploy.yaml"))


def resolve_weights(spec: str) -> str:
    """`zoo:NAME` -> the model's weights file after its sha256 is verified; a path as is."""
    if not spec.startswith(PREFIX):
        return spec
    folder, meta = entry(spec[len(PREFIX):])
    path = folder / meta["weights"]["file"]
    expected = meta["weights"].get("sha256")
    if expected and sha256_of(path) != expected:
        raise WeightsError("sha256 does not match the zoo metadata", file=str(path),
                           hint="the file was changed or damaged; deploy the model again")
    return str(path)
