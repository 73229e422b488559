"""Two statements of the chapter about its losses, measured without MNIST.

* ``l1_l2_fits``: the L2 loss weighs outliers more than the L1 loss. A straight line is fitted
  by gradient descent (``sgd_step``) to points on a line with a few outliers, once with each of
  the chapter's losses (``mse_loss``, ``mae_loss``, both with 1/(2m)); each fit is checked
  against the exact minimiser (least squares; for L1, the best line through two of the points,
  where an L1 line fit always has a minimiser).
* ``backward_engineering``: integrating the chapter's ∂L/∂F = (F − y)/(F(1 − F))
  (``binary_cross_entropy_grad``) over F gives the cross-entropy (35) of one output up to a
  constant.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mnist_mlp.textbook import (
    binary_cross_entropy,
    binary_cross_entropy_grad,
    mae_loss,
    mse_loss,
    sgd_step,
)

TRUE_LINE = (2.0, 1.0)
"""Slope and intercept of the line the points lie on."""


@dataclass
class LineFit:
    """A straight line y = slope·x + intercept fitted to the points with one loss."""

    loss: str
    slope: float
    intercept: float
    exact_slope: float  # the loss's exact minimiser
    exact_intercept: float


@dataclass
class Regression:
    """The points (outliers flagged) and the two fits."""

    x: list[float]
    y: list[float]
    outlier: list[bool]
    fits: dict[str, LineFit]  # "L2", "L1"

    def slope_error(self, loss: str) -> float:
        """|fitted slope − true slope| of one fit."""
        return abs(self.fits[loss].slope - TRUE_LINE[0])


def regression_points(n: int = 30, outliers: int = 3, seed: int = 0) -> tuple[Tensor, Tensor,
                                                                                Tensor]:
    """``n`` points (x, y) with x in [0, 1] on the true line plus N(0, 0.1²) noise; the
    ``outliers`` points with the largest x are lifted by 4 (an outlier pulls a fit hardest far
    from the centre). Returns x (n, 1), y (n, 1), outlier flags (n,)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.linspace(0, 1, n, dtype=torch.float64).unsqueeze(1)
    y = TRUE_LINE[0] * x + TRUE_LINE[1] + 0.1 * torch.randn(n, 1, generator=g,
                                                              dtype=torch.float64)
    flags = torch.zeros(n, dtype=torch.bool)
    flags[-outliers:] = True
    return x, y + 4.0 * flags.unsqueeze(1), flags


def fit_line(x: Tensor, y: Tensor, loss: str, steps: int = 5_000, lr: float = 1.0) -> nn.Linear:
    """Gradient descent on the whole set with ``mse_loss`` ("L2") or ``mae_loss`` ("L1"); η
    falls linearly to 0, so that the L1 fit, whose gradient never shrinks, comes to rest."""
    fn = {"L2": mse_loss, "L1": mae_loss}[loss]
    torch.manual_seed(0)
    line = nn.Linear(1, 1).double()
    for step in range(steps):
        sgd_step(line, fn, x, y, lr * (1 - step / steps))
    return line


def exact_fit(x: Tensor, y: Tensor, loss: str) -> tuple[float, float]:
    """The exact minimiser: least squares for L2; for L1 the best line through two points."""
    if loss == "L2":
        design = torch.cat([x, torch.ones_like(x)], dim=1)
        slope, intercept = torch.linalg.lstsq(design, y).solution.flatten().tolist()
        return slope, intercept
    best = None
    for i, j in itertools.combinations(range(len(x)), 2):
        slope = float((y[j] - y[i]) / (x[j] - x[i]))
        intercept = float(y[i] - slope * x[i])
        cost = float(mae_loss(slope * x + intercept, y))
        if best is None or cost < best[0]:
            best = (cost, slope, intercept)
    assert best is not None
    return best[1], best[2]


def l1_l2_fits(steps: int = 5_000) -> Regression:
    """Both fits of the points of ``regression_points``."""
    x, y, flags = regression_points()
    fits = {}
    for loss in ("L2", "L1"):
        line = fit_line(x, y, loss, steps)
        exact = exact_fit(x, y, loss)
        fits[loss] = LineFit(loss, line.weight.item(), line.bias.item(), *exact)
    return Regression(x.flatten().tolist(), y.flatten().tolist(), flags.tolist(), fits)


@dataclass
class Integral:
    """∫ ∂L/∂F dF against the cross-entropy of one output with target y, on a grid of F."""

    y: float
    F: list[float]  # every ``KEEP``-th point of the grid (for the figure)
    integral: list[float]  # from F[0], plus the cross-entropy at F[0]
    cross_entropy: list[float]
    max_difference: float  # over the whole grid


KEEP = 100
"""Every this many grid points are kept for the figure; the difference is taken on all."""


def backward_engineering(targets: tuple[float, ...] = (0.0, 1.0, 0.3), points: int = 20_001,
                         low: float = 0.01, high: float = 0.99) -> list[Integral]:
    """Integrate ``binary_cross_entropy_grad`` over F ∈ [low, high] (trapezoids, float64) and
    compare with ``binary_cross_entropy``: equal up to the constant, the value at F = low."""
    F = torch.linspace(low, high, points, dtype=torch.float64).unsqueeze(1)
    results = []
    for y in targets:
        target = torch.full_like(F, y)
        slope = binary_cross_entropy_grad(F, target).flatten()
        exact = binary_cross_entropy(F, target, reduction="none")
        integral = torch.cumulative_trapezoid(slope, F.flatten())
        integral = torch.cat([integral.new_zeros(1), integral]) + exact[0]
        results.append(Integral(y, F.flatten()[::KEEP].tolist(), integral[::KEEP].tolist(),
                                exact[::KEEP].tolist(), float((integral - exact).abs().max())))
    return results
