"""When does a difference over a handful of seeds count? Student's t, with no SciPy.

A mean of n seeds' accuracies has a standard error estimated from those same n values, so the
difference over its standard error follows Student's t distribution, not the normal one: with
5 seeds a side, 2 standard errors is about a 92 % bound, not 95 %. Both the claims (two groups
of seeds, Welch's test) and the engines' comparison (the same seeds, paired) therefore take
their bound from t at ``LEVEL`` for their degrees of freedom.
"""

from __future__ import annotations

import math
from statistics import NormalDist

LEVEL = 0.95
"""The two-sided confidence a difference must reach to count."""
NORMAL_FROM = 1e7
"""From this many degrees of freedom on, t is taken as normal: the bound then differs from
Student's by less than 3·10⁻⁷, and lgamma's rounding would cost more than that."""


def _incomplete_beta(a: float, b: float, x: float, y: float) -> float:
    """The regularised incomplete beta function I_x(a, b), y = 1 − x given apart (so that
    neither is formed from the other by cancellation), by its continued fraction (modified
    Lentz, as in Numerical Recipes §6.4), which converges fast for x ≤ (a + 1)/(a + b + 2)."""
    front = math.exp(a * math.log(x) + b * math.log(y) + math.lgamma(a + b) - math.lgamma(a)
                     - math.lgamma(b)) / a
    tiny, c, d, f = 1e-300, 1.0, 0.0, 1.0
    for i in range(400):
        m = i // 2
        if i == 0:
            numerator = 1.0
        elif i % 2 == 0:
            numerator = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        else:
            numerator = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        d = 1 + numerator * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + numerator / c
        c = c if abs(c) > tiny else tiny
        f *= c * d
        if abs(1 - c * d) < 1e-15:
            break
    return front * (f - 1)


def t_tail(t: float, dof: float) -> float:
    """P(|T| ≥ |t|) for Student's t with ``dof`` degrees of freedom (two-sided):
    I_x(dof/2, 1/2) with x = dof/(dof + t²), or 1 − I_{1−x}(1/2, dof/2) where x is large."""
    if math.isinf(t):
        return 0.0
    if dof >= NORMAL_FROM:
        return 2 * NormalDist().cdf(-abs(t))
    x, y = dof / (dof + t * t), t * t / (dof + t * t)
    if y == 0:
        return 1.0
    a, b = dof / 2, 0.5
    if x > (a + 1) / (a + b + 2):
        return 1 - _incomplete_beta(b, a, y, x)
    return _incomplete_beta(a, b, x, y)


def t_bound(dof: float, level: float = LEVEL) -> float:
    """The t beyond which a two-sided difference counts at ``level``: 12.71 for 1 degree of
    freedom, 2.26 for 9, → 1.96 as they grow (the normal's from ``NORMAL_FROM`` on); NaN
    (nothing counts) for no positive ``dof``. Bisection on ``t_tail``."""
    if not dof > 0:
        return math.nan
    if dof >= NORMAL_FROM:
        return NormalDist().inv_cdf((1 + level) / 2)
    low, high = 0.0, 1e3
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if t_tail(middle, dof) > 1 - level else (low, middle)
    return high


def welch_dof(var_a: float, n_a: int, var_b: float, n_b: int) -> float:
    """Welch–Satterthwaite's degrees of freedom of a difference of two means with sample
    variances ``var_a``, ``var_b`` over ``n_a``, ``n_b`` values (each n ≥ 2)."""
    a, b = var_a / n_a, var_b / n_b
    if a + b == 0:
        return float(n_a + n_b - 2)
    return (a + b) ** 2 / (a * a / (n_a - 1) + b * b / (n_b - 1))
