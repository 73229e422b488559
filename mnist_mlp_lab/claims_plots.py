"""The claims' figures, one per measured statement: η, l, m, the recipe's choices (hidden
activation, output layer and loss), L1 against L2, the integrated cross-entropy, and the
one-digit-against-nine classifier."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .claims import Claims
from .sweeps import Point
from .unbalanced import MEASURES


def _spread(ax: Axes, points: Sequence[Point], label: str, color: str = "tab:blue") -> None:
    """Every seed as a dot, the mean as a line, the min–max band shaded; diverged networks as
    crosses at the bottom of the axes."""
    x = np.array([p.value for p in points], dtype=float)
    kept = [p for p in points if p.kept]
    xs = np.array([p.value for p in kept], dtype=float)
    if kept:
        ax.fill_between(xs, [100 * min(p.kept) for p in kept], [100 * max(p.kept) for p in kept],
                        color=color, alpha=0.15, linewidth=0, label="min–max over seeds")
        ax.plot(xs, [100 * p.mean for p in kept], "o-", color=color, label=label)
        for p in kept:
            ax.plot([p.value] * len(p.kept), [100 * a for a in p.kept], ".", color=color,
                    alpha=0.5)
    gone = [p for p in points if p.diverged]
    if gone:
        ax.plot([p.value for p in gone], [0] * len(gone), "x", color="tab:red", markersize=9,
                clip_on=False, label="diverged (count beside)")
        for p in gone:
            ax.annotate(f"{p.diverged}", (p.value, 0), textcoords="offset points", xytext=(6, 4),
                        color="tab:red", fontsize=8)
    ax.set_xscale("log")
    ax.set_xticks(x, [f"{v:g}" for v in x])
    ax.set_ylabel("final test accuracy (%)")
    ax.grid(True, alpha=0.3)


def learning_rate(claims: Claims) -> Figure:
    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    s = claims.settings
    _spread(ax, claims.learning_rate, f"mean of {s.seeds} seeds")
    ax.axvline(0.5, color="gray", linestyle="--", linewidth=1, label="η = 0.5 (the chapter's)")
    ax.set_ylim(0, 100)
    ax.set_xlabel("learning rate η")
    ax.set_title(f"Test accuracy after {s.epochs} epochs against η (l = 30, m = 10)", fontsize=11)
    ax.legend(fontsize=8, loc="lower center")
    return fig


def hidden_size(claims: Claims) -> Figure:
    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    s = claims.settings
    _spread(ax, claims.hidden_size, f"mean of {s.seeds} seeds")
    ax.set_xlabel("hidden neurons l")
    ax.set_title(f"Test accuracy after {s.epochs} epochs against l (η = 0.5, m = 10)",
                 fontsize=11)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def batch_size(claims: Claims) -> Figure:
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5), constrained_layout=True)
    batch, s = claims.batch_size, claims.settings
    _spread(axes[0], batch.epochs, "mean")
    axes[0].set_title(f"after {s.epochs} epochs (η = 0.5)", fontsize=11)
    _spread(axes[1], batch.updates, "mean")
    axes[1].set_title(f"after {batch.fixed_updates:,} updates (η = 0.5)", fontsize=11)
    per_epoch = [p for p in batch.epochs if math.isfinite(p.seconds_per_epoch)]
    m = [p.value for p in per_epoch]
    ax = axes[2]
    ax.plot(m, [p.seconds_per_epoch for p in per_epoch], "o-", label="seconds per epoch")
    ax.plot(m, [p.seconds_per_epoch / p.updates_per_epoch for p in per_epoch], "s-",
            label="seconds per update")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(m, [f"{v:g}" for v in m])
    ax.set_ylabel("seconds per network (engine, SGD only)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("the cost", fontsize=11)
    for ax in axes:
        ax.set_xlabel("mini-batch size m")
    for ax in axes[:2]:
        ax.legend(fontsize=8, loc="lower center")
    return fig


def _categories(ax: Axes, points: Sequence[Point], title: str) -> None:
    """One column per choice: every seed as a dot, the mean as a bar, diverged networks as
    crosses at the bottom with their count."""
    for p in points:
        if p.kept:
            ax.bar(p.value, 100 * p.mean, width=0.6, color="tab:blue", alpha=0.35)
            ax.plot([p.value] * len(p.kept), [100 * a for a in p.kept], ".", color="tab:blue")
            ax.annotate(f"{100 * p.mean:.2f}", (p.value, 100 * p.mean), ha="center",
                        textcoords="offset points", xytext=(0, 4), fontsize=8)
        if p.diverged:
            ax.plot(p.value, 0, "x", color="tab:red", markersize=9, clip_on=False)
            ax.annotate(f"{p.diverged} diverged", (p.value, 0), textcoords="offset points",
                        xytext=(6, 4), color="tab:red", fontsize=8)
    ax.set_xticks([p.value for p in points], [p.label.replace(" + ", "\n+ ") for p in points])
    ax.set_ylim(0, 105)
    ax.set_ylabel("final test accuracy (%)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_title(title, fontsize=11)


def choices(claims: Claims) -> Figure:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    s = claims.settings
    _categories(left, claims.activation, f"the hidden layer's activation ({s.epochs} epochs)")
    _categories(right, claims.output, f"the output layer and its loss ({s.epochs} epochs)")
    return fig


def l1_l2(claims: Claims) -> Figure:
    r = claims.regression
    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    x, y, out = np.array(r.x), np.array(r.y), np.array(r.outlier)
    ax.plot(x[~out], y[~out], "o", color="black", label="points")
    ax.plot(x[out], y[out], "o", color="tab:red", label="outliers")
    grid = np.linspace(0, 1, 2)
    ax.plot(grid, 2 * grid + 1, ":", color="gray", label="the line they lie on")
    for loss, color in (("L2", "tab:orange"), ("L1", "tab:blue")):
        f = r.fits[loss]
        ax.plot(grid, f.slope * grid + f.intercept, color=color,
                label=f"{loss} fit: slope {f.slope:.2f}, intercept {f.intercept:.2f}")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("A line fitted with the L2 and the L1 loss, three outliers", fontsize=11)
    return fig


def integrated(claims: Claims) -> Figure:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    for item, color in zip(claims.integrals, ("tab:blue", "tab:orange", "tab:green"),
                           strict=False):
        F = np.array(item.F)
        left.plot(F, item.cross_entropy, color=color, label=f"cross-entropy (35), y = {item.y:g}")
        step = max(1, len(F) // 25)
        left.plot(F[::step], np.array(item.integral)[::step], "o", color=color, markersize=4,
                  label=f"∫ (F − y)/(F(1 − F)) dF, y = {item.y:g}")
        diff = np.abs(np.array(item.integral) - np.array(item.cross_entropy))
        right.plot(F[1:], diff[1:], color=color, label=f"y = {item.y:g}")
    left.set_xlabel("output F")
    left.set_ylabel("loss of one output")
    left.legend(fontsize=7)
    left.grid(True, alpha=0.3)
    right.set_yscale("log")
    right.set_xlabel("output F")
    right.set_ylabel("|integral − cross-entropy|")
    right.set_title("difference (the trapezoid rule's error; every 100th grid point)",
                    fontsize=11)
    right.legend(fontsize=8)
    right.grid(True, alpha=0.3)
    left.set_title("the integrated gradient is the cross-entropy (same constant)", fontsize=11)
    return fig


def unbalanced(claims: Claims) -> Figure:
    fig, ax = plt.subplots(figsize=(10, 4.5), constrained_layout=True)
    width = 0.8 / len(MEASURES)
    for i, measure in enumerate(MEASURES):
        x = [row.digit + (i - 2) * width for row in claims.unbalanced]
        values = [100 * row.measures[measure] for row in claims.unbalanced]
        ax.bar(x, values, width, label=measure)
        for xi, value in zip(x, values, strict=True):
            if value == 0:  # a bar of height 0 is invisible: say it
                ax.text(xi, 1, "0", ha="center", fontsize=6)
    ax.set_xticks(range(10))
    ax.set_xlabel("the digit, against the other nine")
    ax.set_ylabel("%")
    ax.set_ylim(0, 118)
    ax.legend(fontsize=8, ncols=len(MEASURES), loc="upper center")
    ax.set_title("A classifier that never predicts the digit, on the test set", fontsize=11)
    return fig


FIGURES: dict[str, Callable[[Claims], Figure]] = {
    "learning_rate": learning_rate, "hidden_size": hidden_size, "batch_size": batch_size,
    "choices": choices, "l1_l2": l1_l2, "backward_engineering": integrated,
    "unbalanced": unbalanced}
"""Each figure by the name of its file, ``claims_<name>.png``."""
