"""Synthetic problems, drawn by seed: a Data layer's records without a file (`synthetic_param`).

Each kind gives features x (N, D) and a target y (N,): a real number for `linear`, a class
0 .. K-1 otherwise. Classes are drawn uniformly for each record, so any batch mixes them.

    linear    y = x.w + b + noise * e,  x ~ N(0, I_D); w ~ N(0, I_D), b ~ N(0, 1) fixed by the seed
    moons     two interleaved half circles: p = (cos t - 1/2, sin t - 1/4), t ~ U(0, pi); class 1 is -p
    circles   r (cos t, sin t), t ~ U(0, 2 pi); r = 1 for class 0, 1/2 for class 1
    xor       x ~ U(-1, 1)^2, class = [x0 > 0] xor [x1 > 0]
    blobs     around K centres ~ U(-2, 2)^D fixed by the seed
    spiral    K arms: r (cos a, sin a), r ~ U(0, 1), a = 2 pi k / K + 4 r

The classification kinds add noise * N(0, 1) to every coordinate (for blobs, their spread).

The seed's SeedSequence spawns three streams: the problem (w, b, the centres), then the records of
phase TRAIN and those of phase TEST. A TRAIN and a TEST net with the same synthetic_param thus see
the same problem through different points, and the same seed always gives the same records.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import ConfigError, did_you_mean
from ..proto import pb
from .sources import Records

Sample = tuple[np.ndarray, np.ndarray]


def _linear(problem: np.random.Generator, rng: np.random.Generator, num: int, noise: float, dims: int,
            classes: int) -> Sample:
    w, b = problem.standard_normal(dims), problem.standard_normal()
    x = rng.standard_normal((num, dims))
    return x, x @ w + b + noise * rng.standard_normal(num)


def _moons(problem: np.random.Generator, rng: np.random.Generator, num: int, noise: float, dims: int,
           classes: int) -> Sample:
    y = rng.integers(2, size=num)
    t = rng.uniform(0, np.pi, num)
    p = np.stack([np.cos(t) - 0.5, np.sin(t) - 0.25], axis=1)
    return np.where(y[:, None] == 1, -p, p), y


def _circles(problem: np.random.Generator, rng: np.random.Generator, num: int, noise: float, dims: int,
             classes: int) -> Sample:
    y = rng.integers(2, size=num)
    t = rng.uniform(0, 2 * np.pi, num)
    return np.where(y == 0, 1.0, 0.5)[:, None] * np.stack([np.cos(t), np.sin(t)], axis=1), y


def _xor(problem: np.random.Generator, rng: np.random.Generator, num: int, noise: float, dims: int,
         classes: int) -> Sample:
    x = rng.uniform(-1, 1, (num, 2))
    return x, ((x[:, 0] > 0) != (x[:, 1] > 0)).astype(np.int64)


def _blobs(problem: np.random.Generator, rng: np.random.Generator, num: int, noise: float, dims: int,
           classes: int) -> Sample:
    centres = problem.uniform(-2, 2, (classes, dims))
    y = rng.integers(classes, size=num)
    return centres[y], y


def _spiral(problem: np.random.Generator, rng: np.random.Generator, num: int, noise: float, dims: int,
            classes: int) -> Sample:
    y = rng.integers(classes, size=num)
    r = rng.uniform(0, 1, num)
    angle = 2 * np.pi * y / classes + 4 * r
    return r[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1), y


Generator = Callable[[np.random.Generator, np.random.Generator, int, float, int, int], Sample]
# kind -> (generator, 2-D (else `dims` features), takes `classes` (else 2 classes, or none for linear))
KINDS: dict[str, tuple[Generator, bool, bool]] = {
    "linear": (_linear, False, False), "moons": (_moons, True, False), "circles": (_circles, True, False),
    "xor": (_xor, True, False), "blobs": (_blobs, False, True), "spiral": (_spiral, True, True)}


def generate(kind: str = "moons", num: int = 1000, noise: float = 0.1, seed: int = 0, dims: int = 2,
             classes: int = 2, phase: int = pb.TRAIN) -> Sample:
    """(x (num, D), y (num,)) of problem `kind` for `phase` (pb.TRAIN or pb.TEST); see the module doc."""
    check(kind, num, noise, dims, classes)
    make, planar, _ = KINDS[kind]
    problem, train, test = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    rng = train if phase == pb.TRAIN else test
    x, y = make(problem, rng, num, noise, 2 if planar else dims, classes)
    if kind != "linear":
        x = x + noise * rng.standard_normal(x.shape)
    return x, y


def check(kind: str, num: int, noise: float, dims: int, classes: int) -> None:
    """A ConfigError naming the synthetic_param field that does not fit `kind`."""
    if kind not in KINDS:
        raise ConfigError(f"unknown synthetic_param.kind '{kind}'",
                          hint=did_you_mean(kind, KINDS) or f"use one of {', '.join(KINDS)}")
    _, planar, any_classes = KINDS[kind]
    if num < 1:
        raise ConfigError(f"synthetic_param.num must be positive, found {num}")
    if not noise >= 0:
        raise ConfigError(f"synthetic_param.noise must be >= 0, found {noise:g}")
    if planar and dims != 2:
        raise ConfigError(f"synthetic_param.dims is {dims}, but '{kind}' is 2-D",
                          hint="dims applies to linear and blobs; remove it")
    if dims < 1:
        raise ConfigError(f"synthetic_param.dims must be positive, found {dims}")
    if not any_classes and classes != 2:
        raise ConfigError(f"synthetic_param.classes is {classes}, but '{kind}' does not take it",
                          hint="classes applies to blobs and spiral; remove it")
    if classes < 2:
        raise ConfigError(f"synthetic_param.classes must be at least 2, found {classes}")


def synthetic_records(param: pb.SyntheticParameter, phase: int) -> Records:
    """The records a Data layer with `synthetic_param` reads in `phase`: images (N, D, 1, 1), labels (N,)."""
    x, y = generate(param.kind, param.num, param.noise, param.seed, param.dims, param.classes, phase)
    return Records(x.reshape(*x.shape, 1, 1), y, f"synthetic:{param.kind}")
