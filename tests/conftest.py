"""Shared fixtures: the optional ../shared corpus and MNIST data, skipped cleanly when absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or a pytest skip when it is not there."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1701)


@pytest.fixture
def corpus() -> Path:
    return shared_path("corpus")


@pytest.fixture
def mnist_dir() -> Path:
    return shared_path("data", "mnist")
