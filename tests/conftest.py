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


# Hypothesis profiles for the fuzz tests (tests/test_fuzz.py): "ci" (default) is derandomised, so every
# run tries the same cases; PROTONET_FUZZ=long runs thousands of fresh random cases per test.
import os  # noqa: E402

from hypothesis import HealthCheck, settings  # noqa: E402

# No example database: nothing is written to the tree; a failure prints a blob to reproduce it.
FUZZ = {"deadline": None, "database": None, "print_blob": True,
        "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("ci", derandomize=True, max_examples=200, **FUZZ)
settings.register_profile("long", max_examples=5000, **FUZZ)
settings.load_profile("long" if os.environ.get("PROTONET_FUZZ") == "long" else "ci")
