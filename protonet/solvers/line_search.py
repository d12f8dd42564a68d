"""The strong-Wolfe line search of torch.optim.LBFGS (minFunc's and torch7's lswolfe), on phi(t) = f(x + t d).

Find t with  f(x + t d) <= f(x) + c1 t g.d  (sufficient decrease)  and  |g(x + t d).d| <= c2 |g.d|
(curvature): grow t (cubic extrapolation within [t + 0.01 (t - t_prev), 10 t]) until a step brackets such
a point, then shrink the bracket by cubic interpolation (kept 10% of its width away from its ends once
progress stalls) until one satisfies both, at most max_ls evaluations, or the bracket is narrower than
tolerance_change / max|d|. Returns (f, grad f, t, evaluations) at the best point found.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

Phi = Callable[[float], tuple[float, np.ndarray]]  # t -> (f(x + t d), grad f(x + t d))


def cubic_minimum(x1: float, f1: float, g1: float, x2: float, f2: float, g2: float,
                  bounds: tuple[float, float] | None = None) -> float:
    """The minimiser of the cubic through (x1, f1, slope g1) and (x2, f2, slope g2), clamped to `bounds`
    (default: the interval between the points); the midpoint of the bounds when the cubic has none."""
    low, high = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    square = d1 * d1 - g1 * g2
    if square < 0:
        return float(low + high) / 2
    d2 = math.sqrt(square)
    (a, fa_slope), (b, fb_slope) = ((x1, g1), (x2, g2)) if x1 <= x2 else ((x2, g2), (x1, g1))
    denominator = fb_slope - fa_slope + 2 * d2
    if denominator == 0:  # torch would return NaN here; the midpoint keeps the search finite
        return float(low + high) / 2
    minimum = b - (b - a) * ((fb_slope + d2 - d1) / denominator)
    return float(min(max(minimum, low), high))


def strong_wolfe(phi: Phi, t: float, d: np.ndarray, f: float, g: np.ndarray, gtd: float, *,
                 c1: float = 1e-4, c2: float = 0.9, tolerance_change: float = 1e-9, max_ls: int = 25
                 ) -> tuple[float, np.ndarray, float, int]:
    d_norm = float(np.abs(d).max())
    f_new, g_new = phi(t)
    evaluations, gtd_new = 1, float(np.dot(g_new, d))
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done, ls_iter = False, 0
    bracket: list[float] = []
    values: list[float] = []
    grads: list[np.ndarray] = []
    slopes: list[float] = []
    while ls_iter < max_ls:
        decreased = f_new <= f + c1 * t * gtd and not (ls_iter > 1 and f_new >= f_prev)
        if decreased and abs(gtd_new) <= -c2 * gtd:
            bracket, values, grads, slopes, done = [t], [f_new], [g_new], [gtd_new], True
            break
        if not decreased or gtd_new >= 0:
            bracket, values, grads, slopes = [t_prev, t], [f_prev, f_new], [g_prev, g_new], [gtd_prev, gtd_new]
            break
        t_prev, t = t, cubic_minimum(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                                     bounds=(t + 0.01 * (t - t_prev), t * 10))
        f_prev, g_prev, gtd_prev = f_new, g_new, gtd_new
        f_new, g_new = phi(t)
        evaluations, gtd_new, ls_iter = evaluations + 1, float(np.dot(g_new, d)), ls_iter + 1
    if ls_iter == max_ls:
        bracket, values, grads, slopes = [0.0, t], [f, f_new], [g, g_new], [gtd, gtd_new]

    insufficient = False
    low, high = (0, 1) if values[0] <= values[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = cubic_minimum(bracket[0], values[0], slopes[0], bracket[1], values[1], slopes[1])
        top, bottom = max(bracket), min(bracket)
        margin = 0.1 * (top - bottom)
        if min(top - t, t - bottom) < margin:  # too close to an end of the bracket
            if insufficient or t >= top or t <= bottom:
                t = top - margin if abs(t - top) < abs(t - bottom) else bottom + margin
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        f_new, g_new = phi(t)
        evaluations, gtd_new, ls_iter = evaluations + 1, float(np.dot(g_new, d)), ls_iter + 1
        if f_new > f + c1 * t * gtd or f_new >= values[low]:
            bracket[high], values[high], grads[high], slopes[high] = t, f_new, g_new, gtd_new
            low, high = (0, 1) if values[0] <= values[1] else (1, 0)
            continue
        if abs(gtd_new) <= -c2 * gtd:
            done = True
        elif gtd_new * (bracket[high] - bracket[low]) >= 0:
            bracket[high], values[high], grads[high], slopes[high] = (bracket[low], values[low], grads[low],
                                                                      slopes[low])
        bracket[low], values[low], grads[low], slopes[low] = t, f_new, g_new, gtd_new
    return values[low], grads[low], bracket[low], evaluations
