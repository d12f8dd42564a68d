"""L-BFGS with a strong-Wolfe line search: torch.optim.LBFGS(line_search_fn="strong_wolfe", max_iter=1),
one L-BFGS update per solver iteration, each from the iteration's own batch (solvers/objective.py).

    g = grad f(w); if max|g| <= lbfgs_tolerance_grad: no update (optimal)
    k = 1 (the first update ever):  d = -g,  H0 = 1,  memory cleared
    else:  y = g - g_prev,  s = t_prev d_prev;  if y.s > 1e-10: remember (s, y, rho = 1 / y.s)
           (the oldest pair goes past lbfgs_history_size) and H0 = y.s / y.y;
           d = -H g by the two-loop recursion over the remembered pairs, oldest to newest:
             q = -g;  newest to oldest: a_i = rho_i s_i.q,  q -= a_i y_i
             r = H0 q;  oldest to newest: b_i = rho_i y_i.r,  r += (a_i - b_i) s_i;  d = r
    d *= lr_mult (per value: 0 freezes);  g_prev = g
    t = min(1, 1 / |g|_1) * rate on the first update, else rate   (rate = base_lr by the lr policy)
    if g.d > -lbfgs_tolerance_change: no update (not a descent direction)
    t = strong_wolfe(t) (solvers/line_search.py, c1 = 1e-4, c2 = 0.9, 25 evaluations at most);  w += t d

Unlike torch, the line search's bracket tolerance is lbfgs_tolerance_change (torch fixes it at 1e-9,
the default). clip_gradients is refused: the line search needs the objective's own gradient.

State (.solverstate history blobs, in this order): S and Y (history_size x n: the remembered steps and
gradient changes, a ring), rho (history_size, float64), d_prev and g_prev (n), and a float64 record
[updates so far k, pairs remembered, ring head, H0, t_prev]; n is the number of learnable values. The
memory is 2 x history_size x n values: lower lbfgs_history_size for large nets.
"""

from __future__ import annotations

import numpy as np

from ..proto import pb
from .line_search import strong_wolfe
from .objective import Objective, ObjectiveRule
from .rule import Fail

ITERATIONS, COUNT, HEAD, H0, STEP = range(5)


class LBFGS(ObjectiveRule):
    type = "LBFGS"

    def __init__(self, param: pb.SolverParameter, shapes: list[tuple[int, ...]], dtype: np.dtype) -> None:
        super().__init__(param, shapes, dtype)
        n, m = sum(int(np.prod(shape)) for shape in shapes), param.lbfgs_history_size
        self.s, self.y = np.zeros((m, n), dtype), np.zeros((m, n), dtype)
        self.rho = np.zeros(m)
        self.d, self.g_prev = np.zeros(n, dtype), np.zeros(n, dtype)
        self.record = np.zeros(5)

    @classmethod
    def check(cls, param: pb.SolverParameter, fail: Fail) -> None:
        if param.lbfgs_history_size < 1:
            raise fail(f"lbfgs_history_size must be >= 1, found {param.lbfgs_history_size}")
        for name in ("lbfgs_tolerance_grad", "lbfgs_tolerance_change"):
            if getattr(param, name) < 0:
                raise fail(f"{name} must be >= 0, found {getattr(param, name):g}")
        if param.clip_gradients >= 0:
            raise fail("clip_gradients cannot be used with LBFGS",
                       hint="remove clip_gradients: the strong-Wolfe line search already bounds each step")

    def state_arrays(self) -> list[np.ndarray]:
        return [self.s, self.y, self.rho, self.d, self.g_prev, self.record]

    def step(self, objective: Objective, rate: float) -> None:
        g, record = objective.grad, self.record
        if float(np.abs(g).max(initial=0.0)) <= self.param.lbfgs_tolerance_grad:
            return
        record[ITERATIONS] += 1
        first = bool(record[ITERATIONS] == 1)
        if first:
            np.negative(g, out=self.d)
            record[COUNT] = record[HEAD] = 0
            record[H0] = 1.0
        else:
            self._remember(g - self.g_prev, self.d * float(record[STEP]))
            self.d[...] = self._two_loop(g)
        self.d *= objective.lr_mult
        self.g_prev[...] = g
        t = min(1.0, 1.0 / float(np.abs(g).sum())) * rate if first else rate
        record[STEP] = t
        gtd = float(np.dot(g, self.d))
        if gtd > -self.param.lbfgs_tolerance_change:
            return
        x, d = objective.x, self.d
        _, _, t, _ = strong_wolfe(lambda step: objective.evaluate(x + step * d), t, d, objective.loss, g, gtd,
                                  tolerance_change=self.param.lbfgs_tolerance_change)
        record[STEP] = t
        objective.set(x + t * d)

    def _order(self) -> list[int]:
        """Ring slots of the remembered pairs, oldest first."""
        m, count, head = len(self.rho), int(self.record[COUNT]), int(self.record[HEAD])
        return [(head - count + i) % m for i in range(count)]

    def _remember(self, y: np.ndarray, s: np.ndarray) -> None:
        ys = float(np.dot(y, s))
        if ys <= 1e-10:
            return
        m, head = len(self.rho), int(self.record[HEAD])
        self.s[head], self.y[head], self.rho[head] = s, y, 1.0 / ys
        self.record[HEAD] = (head + 1) % m
        self.record[COUNT] = min(self.record[COUNT] + 1, m)
        self.record[H0] = ys / float(np.dot(y, y))

    def _two_loop(self, g: np.ndarray) -> np.ndarray:
        order = self._order()
        q = -g
        alphas = {}
        for j in reversed(order):
            alphas[j] = float(np.dot(self.s[j], q)) * float(self.rho[j])
            q -= alphas[j] * self.y[j]
        r = q * float(self.record[H0])
        for j in order:
            beta = float(np.dot(self.y[j], r)) * float(self.rho[j])
            r += (alphas[j] - beta) * self.s[j]
        return r
