"""Softmax along one axis, stabilised by subtracting the maximum."""

from __future__ import annotations

import numpy as np


def softmax(x: np.ndarray, axis: int, out: np.ndarray | None = None) -> np.ndarray:
    """p_i = exp(x_i - max x) / sum_j exp(x_j - max x)."""
    out = np.subtract(x, x.max(axis=axis, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=axis, keepdims=True)
    return out


def softmax_backward(p: np.ndarray, dp: np.ndarray, axis: int, out: np.ndarray | None = None) -> np.ndarray:
    """dx = p * (dp - sum_j dp_j p_j)."""
    dot = (dp * p).sum(axis=axis, keepdims=True)
    out = np.subtract(dp, dot, out=out)
    out *= p
    return out
