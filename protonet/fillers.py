"""Weight fillers with Caffe's formulas (include/caffe/filler.hpp), chosen by name.

fan_in = count / shape[0], fan_out = count / shape[1]; variance_norm picks n = fan_in,
fan_out or their mean.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .errors import ConfigError, did_you_mean
from .proto import pb

Filler = Callable[[np.ndarray, pb.FillerParameter, np.random.Generator], None]


def _fan(x: np.ndarray, param: pb.FillerParameter) -> float:
    """n of the xavier/msra formulas."""
    fan_in = x.size / x.shape[0] if x.ndim else 1.0
    fan_out = x.size / x.shape[1] if x.ndim > 1 else float(x.size)
    norm = param.variance_norm
    if norm == pb.FillerParameter.FAN_OUT:
        return fan_out
    if norm == pb.FillerParameter.AVERAGE:
        return (fan_in + fan_out) / 2
    return fan_in


def constant(x: np.ndarray, p: pb.FillerParameter, rng: np.random.Generator) -> None:
    x[...] = p.value


def uniform(x: np.ndarray, p: pb.FillerParameter, rng: np.random.Generator) -> None:
    """x ~ U(min, max)."""
    x[...] = rng.uniform(p.min, p.max, x.shape)


def gaussian(x: np.ndarray, p: pb.FillerParameter, rng: np.random.Generator) -> None:
    """x ~ N(mean, std); with sparse >= 0 each weight is kept with probability sparse / num_outputs."""
    x[...] = rng.normal(p.mean, p.std, x.shape)
    if p.sparse >= 0:
        if x.ndim < 1:
            raise ConfigError("sparse gaussian filler needs at least one axis")
        keep = rng.random(x.shape) < p.sparse / x.shape[0]
        x *= keep


def positive_unitball(x: np.ndarray, p: pb.FillerParameter, rng: np.random.Generator) -> None:
    """x ~ U(0, 1), then each row (of count / shape[0] values) divided by its sum."""
    rows = x.reshape(x.shape[0], -1) if x.ndim else x.reshape(1, -1)
    rows[...] = rng.uniform(0, 1, rows.shape)
    rows /= rows.sum(axis=1, keepdims=True)


def xavier(x: np.ndarray, p: pb.FillerParameter, rng: np.random.Generator) -> None:
    """x ~ U(-a, a), a = sqrt(3 / n)."""
    scale = np.sqrt(3.0 / _fan(x, p))
    x[...] = rng.uniform(-scale, scale, x.shape)


def msra(x: np.ndarray, p: pb.FillerParameter, rng: np.random.Generator) -> None:
    """x ~ N(0, 2 / n)."""
    x[...] = rng.normal(0.0, np.sqrt(2.0 / _fan(x, p)), x.shape)


def bilinear(x: np.ndarray, p: pb.FillerParameter, rng: np.random.Generator) -> None:
    """Bilinear upsampling kernel: w = (1 - |x/f - c|)(1 - |y/f - c|), f = ceil(K/2), c = (K - 1) / 2f."""
    if x.ndim != 4 or x.shape[2] != x.shape[3]:
        raise ConfigError(f"bilinear filler needs a 4-D blob with square kernels, got {list(x.shape)}")
    k = x.shape[3]
    f = np.ceil(k / 2.0)
    c = (k - 1) / (2.0 * f)
    pos = np.arange(k)
    weights = 1 - np.abs(pos / f - c)
    x[...] = np.outer(weights, weights)


FILLERS: dict[str, Filler] = {
    "constant": constant, "uniform": uniform, "gaussian": gaussian,
    "positive_unitball": positive_unitball, "xavier": xavier, "msra": msra, "bilinear": bilinear,
}


def fill(x: np.ndarray, param: pb.FillerParameter, rng: np.random.Generator) -> None:
    """Fill array `x` in place as `param` says."""
    filler = FILLERS.get(param.type)
    if filler is None:
        raise ConfigError(f"unknown filler type '{param.type}'",
                          hint=did_you_mean(param.type, FILLERS) or f"one of {', '.join(FILLERS)}")
    if param.sparse >= 0 and param.type != "gaussian":
        raise ConfigError(f"'sparse' applies only to the gaussian filler, not '{param.type}'")
    if param.type == "gaussian" and (np.signbit(param.std) or np.isnan(param.std)):  # numpy refuses -0.0 too
        raise ConfigError(f"gaussian filler std must be >= 0, found {param.std}")
    if param.type == "uniform" and not (param.min <= param.max and np.isfinite(param.max - param.min)):
        raise ConfigError(f"uniform filler needs finite min <= max, found min {param.min}, max {param.max}")
    filler(x, param, rng)
