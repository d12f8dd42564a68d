"""Newton's method over all learnable values, with damping (a Levenberg-style shift).

    H = the Hessian of f (solvers/objective.py) at w, by central differences of the exact gradient:
        H[:, j] = (grad f(w + h e_j) - grad f(w - h e_j)) / (2 h),  h = eps^(1/3) max(1, |w_j|)
        (eps of the net's dtype), then symmetrised, (H + H^T) / 2
    solve (H + newton_damping I) d = grad f    (by eigen-decomposition; refused as singular when an
        eigenvalue is below 10 eps^(2/3) of the largest in size: the differences' own error)
    w <- w - local_rate * d            (local_rate = the policy's rate x lr_mult; lr_mult 0 freezes)

A gradient that is affine in w (a quadratic loss: linear regression) gives H exactly, up to rounding,
so one step with base_lr 1 lands on the least-squares solution. Each step costs 2n gradient evaluations
and an n x n solve, so nets of more than MAX_PARAMS learnable values are refused (use LBFGS). H is not
kept: the rule has no state. An indefinite H (a non-convex loss) can step uphill; damping helps.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, NumericalError
from ..proto import pb
from .objective import Objective, ObjectiveRule
from .rule import Fail

MAX_PARAMS = 2000


class Newton(ObjectiveRule):
    type = "Newton"

    def __init__(self, param: pb.SolverParameter, shapes: list[tuple[int, ...]], dtype: np.dtype) -> None:
        count = sum(int(np.prod(shape)) for shape in shapes)
        if count > MAX_PARAMS:
            raise ConfigError(f"Newton needs the full Hessian: this net has {count:,} learnable values, over "
                              f"Newton's limit of {MAX_PARAMS:,} (an n x n matrix from 2n gradient "
                              "evaluations per iteration)",
                              hint="use type: LBFGS, which builds its curvature from gradients alone")
        super().__init__(param, shapes, dtype)

    @classmethod
    def check(cls, param: pb.SolverParameter, fail: Fail) -> None:
        if param.newton_damping < 0:
            raise fail(f"newton_damping must be >= 0, found {param.newton_damping:g}")

    def step(self, objective: Objective, rate: float) -> None:
        free = np.flatnonzero(objective.lr_mult)
        hessian = self.hessian(objective, free)
        hessian[np.diag_indices_from(hessian)] += self.param.newton_damping
        values, vectors = np.linalg.eigh(hessian)
        if np.abs(values).min(initial=np.inf) <= np.abs(values).max(initial=0) * self.noise(objective.x.dtype):
            raise NumericalError(f"Newton: the Hessian is singular at iteration {objective.iteration} (its "
                                 f"eigenvalues span {values.min():.3g} .. {values.max():.3g})",
                                 hint="set newton_damping, e.g. newton_damping: 0.001")
        d = vectors @ ((vectors.T @ objective.grad[free].astype(np.float64)) / values)
        x = objective.x.copy()
        x[free] = x[free] - rate * objective.lr_mult[free] * d
        objective.set(x)

    @staticmethod
    def noise(dtype: np.dtype) -> float:
        """The relative error of the difference Hessian, 10 eps^(2/3): eigenvalues below it are noise."""
        return 10 * float(np.finfo(dtype).eps) ** (2 / 3)

    @staticmethod
    def hessian(objective: Objective, free: np.ndarray) -> np.ndarray:
        """The Hessian of f over the values `free`, by central differences of grad f (float64)."""
        x = objective.x
        base = float(np.finfo(x.dtype).eps) ** (1 / 3)
        hessian = np.empty((free.size, free.size))
        for column, j in enumerate(free):
            h = base * max(1.0, abs(float(x[j])))
            ends = []
            for sign in (1, -1):
                point = x.copy()
                point[j] += sign * h
                ends.append((float(point[j]), objective.evaluate(point, "a Hessian probe")[1][free]))
            (x_plus, g_plus), (x_minus, g_minus) = ends
            hessian[:, column] = (g_plus.astype(np.float64) - g_minus) / (x_plus - x_minus)
        return (hessian + hessian.T) / 2
