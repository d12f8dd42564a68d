"""The training objective as a function of all learnable values, for the rules that re-evaluate it.

    f(w) = mean over iter_size passes of the net's loss + sum_k weight_decay * decay_mult_k * R(w_k)
    R(w) = |w|^2 / 2 (L2) or |w|_1 (L1),  so grad f = the normalised, regularised gradient every rule sees.

`w` is every learnable blob flattened and joined in `net.learnable` order. Each evaluation replays the
iteration's own batch: the data layers' read positions and the net's generator are rewound to where the
iteration began, so dropout masks and noise are the same and f is a deterministic function of w; any
evaluation leaves the data where the iteration's single pass would have. Values whose lr_mult is 0 are
frozen: their gradient reads 0, and `lr_mult` (flat, per value) lets a rule scale its step as the
elementwise rules do.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..errors import NumericalError
from ..net import Net
from .numerics import finite
from .rule import UpdateRule


class Objective:
    """f and grad f on the iteration's batch. `x`, `loss`, `grad`: the point the iteration starts from (its
    gradient as the solver left it: normalised, clipped, then regularised here); `evaluate(x)` -> (f, grad f)
    elsewhere; `set(x)` writes the parameters."""

    def __init__(self, net: Net, rule: UpdateRule, iter_size: int, rewind: Callable[[], None], loss: float,
                 iteration: int) -> None:
        self.net, self.rule, self.iter_size, self.rewind, self.iteration = net, rule, iter_size, rewind, iteration
        self.params = net.learnable
        self.lr_mult = joined([np.full(lp.blob.count, lp.lr_mult, lp.blob.data.dtype) for lp in self.params])
        self.x = joined([lp.blob.data.ravel() for lp in self.params])
        self.loss = float(loss) + self._penalty()
        self.grad = self._gradient()
        self.evaluations = 0

    @property
    def size(self) -> int:
        return self.x.size

    def set(self, x: np.ndarray) -> None:
        offset = 0
        for lp in self.params:
            lp.blob.data.reshape(-1)[...] = x[offset:offset + lp.blob.count]
            offset += lp.blob.count

    def evaluate(self, x: np.ndarray, what: str = "a trial point") -> tuple[float, np.ndarray]:
        """f(x) and grad f(x), replaying the iteration's batch; NumericalError when either is non-finite."""
        self.set(x)
        self.rewind()
        self.net.clear_param_diffs()
        loss = sum(self.net.forward_backward() for _ in range(self.iter_size)) / self.iter_size
        self.evaluations += 1
        value, grad = float(loss) + self._penalty(), self._gradient()
        if not (math.isfinite(value) and finite(grad)):
            raise NumericalError(f"{self.rule.type}: the objective is non-finite at {what} in iteration "
                                 f"{self.iteration} (loss {loss})",
                                 hint="lower base_lr, or add weight_decay to bound the problem")
        return value, grad

    def _penalty(self) -> float:
        decay, total = self.rule.value("weight_decay"), 0.0
        for lp in self.params:
            w = lp.blob.data
            if decay * lp.decay_mult:
                norm = (float(np.vdot(w, w)) / 2 if self.rule.param.regularization_type == "L2"
                        else float(np.abs(w).sum(dtype=np.float64)))
                total += decay * lp.decay_mult * norm
        return total

    def _gradient(self) -> np.ndarray:
        parts = []
        for lp in self.params:
            g = lp.blob.diff.ravel() * (1.0 / self.iter_size if self.iter_size > 1 else 1.0)
            self.rule.regularise(slice(0, g.size), lp.blob.data.reshape(-1), g, lp.decay_mult, 0.0)
            parts.append(g if lp.lr_mult else np.zeros_like(g))
        return joined(parts)


def joined(arrays: list[np.ndarray]) -> np.ndarray:
    """The arrays end to end (empty for a net without learnable params)."""
    return np.concatenate(arrays) if arrays else np.zeros(0)


class ObjectiveRule(UpdateRule):
    """Base of the rules that move all parameters at once from the whole objective (Newton, LBFGS).

    The solver runs the iteration's forward-backward passes and the clipping as for every rule, then calls
    `step(objective, rate)` instead of `compute`: `objective` (solvers/objective.py) holds the starting
    point, its value and gradient, and re-evaluates f and grad f on the iteration's own batch; the rule
    leaves the new parameters in the net (objective.set). Its state, if any, is `state_arrays()`.
    """

    needs_objective = True
    num_histories = 0

    def step(self, objective: Objective, rate: float) -> None:
        raise NotImplementedError
