"""The reproduction's plot: test accuracy against epoch, the typical runs' band and every run.

``report`` writes it into ``reproduction.png``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .configurations import Configuration, train_images
from .evidence import LOST_RECALL
from .results import ConfigurationResult, Reproduction, Run

COLORS = {"cross_entropy": "tab:blue", "quadratic": "tab:red", "quadratic_eta0.5": "tab:orange",
          "softmax": "tab:green", "softmax_eq35": "tab:purple"}
ZOOM_BELOW = 3.5
"""The zoomed panels start this many points below the lowest final accuracy of a healthy run."""


def _kind(conf: Configuration) -> str:
    return conf.name.split("-", 1)[1]


def _accuracies(runs: Sequence[Run]) -> np.ndarray:
    return 100 * np.array([[r.test_accuracy for r in run.history] for run in runs])


def plot(reproduction: Reproduction) -> Figure:
    """Test accuracy against epoch; one column per l.

    Top (zoomed): for each configuration, the mean and min–max band of its *typical* runs —
    neither stalled nor late escapes (``ConfigurationResult.late_escapes``) — with the textbook
    figure dashed. Bottom: every run, stalled ones dotted and late escapes dashed.
    """
    s = reproduction.settings
    sizes = sorted({r.configuration.hidden_size for r in reproduction.results})
    fig, axes = plt.subplots(2, len(sizes), figsize=(6.8 * len(sizes), 10), squeeze=False,
                             height_ratios=[3, 2], constrained_layout=True)
    lowest = min((float(_accuracies(r.runs).min()) for r in reproduction.results
                  if not any(run.diverged for run in r.runs)), default=0.0)
    for col, size in enumerate(sizes):
        top, bottom = axes[0, col], axes[1, col]
        highs: list[float] = []
        floor: list[float] = []
        for result in (r for r in reproduction.results if r.configuration.hidden_size == size):
            _plot_typical(top, result, s.stall_margin, highs, floor)
            _plot_every_run(bottom, result, s.stall_margin)
        if floor:  # from ZOOM_BELOW points under the lowest final accuracy to the top
            top.set_ylim(max(0.0, min(floor) - ZOOM_BELOW), min(100.0, max(highs) + 0.3))
        top.set_title(f"l = {size}: mean and min–max band of the typical runs (zoomed)",
                      fontsize=11)
        bottom.set_title(f"l = {size}: every run (stalled dotted, late escapes dashed)",
                         fontsize=11)
        bottom.set_ylim(max(0.0, 10 * math.floor(lowest / 10) - 5), 100)
        for ax in (top, bottom):
            ax.set_xlabel("epoch")
            ax.set_ylabel("test accuracy (%)")
            ax.grid(True, alpha=0.3)
            ax.set_xlim(1, max(2, s.epochs))
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        top.legend(fontsize=8, loc="lower right")
        bottom.legend(fontsize=7.5, loc="lower right")
    title = (f"784-l-10 on MNIST, N(0, 1) init, mini-batches of {s.batch_size}: test accuracy "
             f"over {s.seeds} seeds ({train_images(s):,} training images)")
    if s.quick:
        title += " — quick run"
    fig.suptitle(title + f"\nstalled: a digit lost (recall < {100 * LOST_RECALL:g} %) or final "
                 f"accuracy > {100 * s.stall_margin:g} points below the configuration's best; "
                 f"late escape: below that line until epoch "
                 f"{max(2, s.epochs // 4)} or later, healthy at the end", fontsize=11)
    return fig


def _plot_typical(ax: Axes, result: ConfigurationResult, margin: float, highs: list[float],
                  floor: list[float]) -> None:
    """The mean and min–max band of the configuration's typical runs, and its textbook figure;
    appends the highest accuracy drawn to ``highs`` and the lowest final one to ``floor``."""
    c, color = result.configuration, COLORS[_kind(result.configuration)]
    epochs = np.arange(1, len(result.runs[0].history) + 1)
    escapes = result.late_escapes(margin)
    late = {id(run) for run, _ in escapes}
    typical = [r for r in result.healthy if id(r) not in late]
    if typical:
        acc = _accuracies(typical)
        ax.fill_between(epochs, acc.min(0), acc.max(0), color=color, alpha=0.15, linewidth=0)
        left_out = [f"{n} {what}" for n, what in (
            (len(escapes), "late escape" + "s" * (len(escapes) > 1)),
            (len(result.stalled), "stalled")) if n]
        ax.plot(epochs, acc.mean(0), color=color, linewidth=2,
                label=f"{c.cost}, η = {c.lr:g}: mean of {len(typical)}"
                      + (f" (without {', '.join(left_out)})" if left_out else ""))
        highs.append(float(acc.max()))
        floor.append(float(acc[:, -1].min()))
    if c.textbook is not None:
        ax.axhline(100 * c.textbook, color=color, linestyle="--", linewidth=1.2,
                   label=f"textbook {100 * c.textbook:.2f} %")
        highs.append(100 * c.textbook)


STALLED_STYLE: dict[str, Any] = {"linewidth": 2.2, "linestyle": ":"}  # keywords of Axes.plot
LATE_STYLE: dict[str, Any] = {"linewidth": 1.4, "linestyle": "--"}


def _plot_every_run(ax: Axes, result: ConfigurationResult, margin: float) -> None:
    """Every run of the configuration, stalled ones dotted and late escapes dashed."""
    c, color = result.configuration, COLORS[_kind(result.configuration)]
    epochs = np.arange(1, len(result.runs[0].history) + 1)
    escapes = result.late_escapes(margin)
    late = {id(run) for run, _ in escapes}
    for run in result.runs:
        style = (STALLED_STYLE if run.stalled else LATE_STYLE if id(run) in late else
                 {"linewidth": 0.7, "alpha": 0.6})
        ax.plot(epochs, _accuracies([run])[0], color=color, **style)
    ax.plot([], [], color=color, linewidth=0.7, label=f"{c.name}: every run")
    for runs, what, style in ((result.stalled, "stalled", STALLED_STYLE),
                              ([run for run, _ in escapes], "late escape", LATE_STYLE)):
        if runs:
            seeds = ", ".join(str(r.seed) for r in runs)
            ax.plot([], [], color=color, **style,
                    label=f"{c.name}: {what} (seed{'s' * (len(runs) > 1)} {seeds})")
