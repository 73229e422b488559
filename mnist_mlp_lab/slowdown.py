"""The learning slowdown (the chapter's single-neuron example; Nielsen ch. 3), measured.

One sigmoid neuron learns to output 0 for the input 1, under the quadratic cost and under the
cross-entropy, from a saturated start (w = b = 2, output ≈ 0.98) and from a milder one
(w = 0.6, b = 0.9, output ≈ 0.82): ``run_all`` trains the four, ``plot`` draws cost and ∂C/∂w
against epoch, ``table`` sums them up, ``save`` writes ``slowdown.png`` and ``slowdown.json``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from mnist_mlp.files import write_atomically, write_json
from mnist_mlp.textbook import COSTS, SATURATED_START, UNSATURATED_START, NeuronRun, train_neuron

STARTS: dict[str, tuple[float, float]] = {
    "saturated": SATURATED_START,
    "not saturated": UNSATURATED_START,
}
COST_LABELS = {"quadratic": "quadratic ½(F−y)²", "cross_entropy": "cross-entropy"}
COST_COLORS = {"quadratic": "tab:red", "cross_entropy": "tab:blue"}
COST_EQUATIONS = {"quadratic": "Nielsen's eq. 55", "cross_entropy": "(36)"}
"""Where each cost's ∂C/∂w is written: the chapter's (36); the quadratic one, unnumbered there."""
MARKER_EVERY = 10

Runs = dict[str, dict[str, NeuronRun]]


def run_all(epochs: int, lr: float) -> Runs:
    """Both costs from both starts: ``runs[start][cost]``."""
    return {start: {cost: train_neuron(cost, w0, b0, lr=lr, epochs=epochs) for cost in COSTS}
            for start, (w0, b0) in STARTS.items()}


def start_title(start: str, run: NeuronRun) -> str:
    return (f"{start} start: w₀ = {run.w0:g}, b₀ = {run.b0:g}, "
            f"output F₀ = {run.output[0]:.2f} (target {run.y:g})")


def plot(runs: Runs) -> Figure:
    """A 2×2 figure: rows are the starts; cost (left) and ∂C/∂w (right) against epoch."""
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5), constrained_layout=True)
    for row, (start, by_cost) in zip(axes, runs.items(), strict=True):
        ax_loss, ax_grad = row
        for cost, run in by_cost.items():
            epochs = range(len(run.loss))
            color, label = COST_COLORS[cost], COST_LABELS[cost]
            ax_loss.plot(epochs, run.loss, color=color, label=label)
            ax_grad.plot(epochs, run.grad_w, color=color, label=f"{label}: autograd")
            marks = list(epochs)[::MARKER_EVERY]
            ax_grad.plot(marks, [run.grad_w_analytic[e] for e in marks], linestyle="none",
                         marker="o", markersize=4, markerfacecolor="none", color=color,
                         label=f"{label}: analytic, {COST_EQUATIONS[cost]}")
        first = next(iter(by_cost.values()))
        ax_loss.set_title(f"Cost — {start_title(start, first)}", fontsize=10)
        ax_grad.set_title(f"∂C/∂w — {start}, η = {first.lr:g}", fontsize=10)
        for ax, ylabel in ((ax_loss, "cost C (log scale)"), (ax_grad, "∂C/∂w (log scale)")):
            ax.set_yscale("log")
            ax.set_xlabel("epoch")
            ax.set_ylabel(ylabel)
            ax.grid(True, which="major", alpha=0.3)
            ax.legend(fontsize=8)
    fig.suptitle("The learning slowdown of one sigmoid neuron F = σ(wx + b), x = 1 → y = 0",
                 fontsize=12)
    return fig


def milestones(epochs: int) -> list[int]:
    return sorted({0, min(50, epochs), epochs})


def table(runs: Runs) -> str:
    """Output and cost at epochs 0, 50 and the last, and the largest gradient mismatch."""
    steps = next(run.epochs for by_cost in runs.values() for run in by_cost.values())
    marks = milestones(steps)
    header = (f"{'start':<14}{'cost':<15}"
              + "".join(f"{f'F@{e}':>9}" for e in marks)
              + "".join(f"{f'C@{e}':>10}" for e in marks)
              + f"{'max|autograd−analytic|':>24}")
    lines = [header, "-" * len(header)]
    for start, by_cost in runs.items():
        for cost, run in by_cost.items():
            lines.append(f"{start:<14}{cost:<15}"
                         + "".join(f"{run.output[e]:>9.4f}" for e in marks)
                         + "".join(f"{run.loss[e]:>10.5f}" for e in marks)
                         + f"{run.max_gradient_error():>24.2e}")
    return "\n".join(lines)


def save(runs: Runs, out: Path) -> tuple[Path, Path]:
    """Write ``out/slowdown.png`` and ``out/slowdown.json``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    png, js = out / "slowdown.png", out / "slowdown.json"
    data = {"description": "One sigmoid neuron F = σ(wx + b) trained by gradient descent; "
                           "lists are per epoch, entry 0 the start (Nielsen ch. 3).",
            "runs": [{"start": start, **run.to_dict()}
                     for start, by_cost in runs.items() for run in by_cost.values()]}
    fig = plot(runs)
    try:
        write_atomically(png, lambda f: fig.savefig(f, format="png", dpi=110))
    finally:
        plt.close(fig)
    write_json(js, data)
    return png, js
