"""``claims.md``: the chapter's statements in a table, with the code, test, figure and verdict of
each, then the sweeps' numbers; ``save`` writes it with ``claims.json`` and the figures."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from ..files import write_atomically, write_json
from . import claims_rows as v
from .claims import BASE, Claims
from .claims_plots import FIGURES
from .claims_rows import Row
from .sweeps import Point

TEXTBOOK = "mnist_mlp/textbook"
L = f"{TEXTBOOK}/losses.py"


TESTED = "as written (tested)"


def rows(c: Claims, png: dict[str, str]) -> list[Row]:
    """One ``Row`` per statement of the chapter, in its order."""
    return _loss_rows(c, png) + _training_rows(c, png) + _mnist_rows(c, png)


def _loss_rows(c: Claims, png: dict[str, str]) -> list[Row]:
    """The losses, the single neuron and the softmax gradient."""
    return [
        Row("The L2 loss (mean square error) is 1/(2m) Σᵢ ‖F(xᵢ) − yᵢ‖₂².", f"`{L}` mse_loss",
            "`tests/test_losses.py::test_mse_by_hand`", "—", TESTED + ": reduction \"mean\""),
        Row("The L1 loss (mean absolute error) is 1/(2m) Σᵢ ‖F(xᵢ) − yᵢ‖₁.", f"`{L}` mae_loss",
            "`tests/test_losses.py::test_mae_by_hand`", "—", TESTED + ": reduction \"mean\""),
        Row("The L2 loss weighs outliers more than the L1 loss.",
            "`mnist_mlp/experiments/loss_claims.py` l1_l2_fits",
            "`tests/test_claims.py::test_l1_fit_resists_outliers_l2_fit_does_not`",
            png["l1_l2"], v.l1_l2(c)),
        Row("For classification, the cross-entropy (35): −Σᵢ [yᵢ·ln F(xᵢ) + (1 − yᵢ)·ln(1 − F(xᵢ))]"
            ".", f"`{L}` binary_cross_entropy",
            "`tests/test_losses.py::test_cross_entropies_are_the_chapters_sums_over_samples`",
            "—", TESTED + ": reduction \"sum\""),
        Row("One sigmoid neuron, {x, y} = {1, 0}, quadratic cost: ∂L/∂w = ∂L/∂b = σ(w + b)σ'(w + b)"
            ", which vanishes as σ → 1: learning slows down.",
            f"`{TEXTBOOK}/neuron.py` quadratic_gradients",
            "`tests/test_gradients.py::test_sigmoid_neuron_quadratic_cost`, `::test_learning_"
            "slowdown`", "`slowdown.png`", "Holds (tested; see the figure)."),
        Row("The same slowdown appears in whole networks with the L2 loss.",
            "`mnist_mlp/experiments/evidence.py` saturation_evidence",
            "`tests/test_reproduce.py::test_saturation_evidence_finds_an_output_stuck_at_zero`",
            "`reproduction.png`", v.network_slowdown(c)),
        Row("Cross-entropy, one sigmoid neuron: ∂L/∂w = x[σ(wx + b) − y] (36), "
            "∂L/∂b = σ(wx + b) − y (37): no σ', no slowdown.",
            f"`{TEXTBOOK}/neuron.py` cross_entropy_gradients",
            "`tests/test_gradients.py::test_sigmoid_neuron_cross_entropy`",
            "`slowdown.png`", "Holds (tested)."),
        Row("Integrating ∂L/∂F = (F − y)/(F(1 − F)) over F gives the cross-entropy up to a "
            "constant (\"backward engineering\").",
            "`mnist_mlp/experiments/loss_claims.py` backward_engineering",
            "`tests/test_claims.py::test_integrated_gradient_is_the_cross_entropy`",
            png["backward_engineering"], v.backward(c)),
        Row("Softmax cross-entropy, one-hot labels: L = −Σᵢ ln F_nᵢ(xᵢ).", f"`{L}` log_likelihood",
            "`tests/test_losses.py::test_cross_entropies_are_the_chapters_sums_over_samples`",
            "—", TESTED + ": reduction \"sum\""),
        Row("Its bias gradient is ∂L/∂b_j = Σᵢ [F_nᵢ(xᵢ) − y_nᵢ] (the last line of the "
            "derivation).", f"`{TEXTBOOK}/softmax_gradient.py`",
            "`tests/test_errata.py::test_printed_result_differs_from_autograd_and_corrected_"
            "equals_it`", "—", v.derivation(c, "bias")),
        Row("The same holds for the weights.", f"`{TEXTBOOK}/softmax_gradient.py`",
            "`tests/test_errata.py::test_the_weights_claim_holds_only_corrected`", "—",
            v.derivation(c, "weight")),
    ]


def _training_rows(c: Claims, png: dict[str, str]) -> list[Row]:
    """Gradient descent, the learning rate, backpropagation, mini-batches."""
    return [
        Row("Gradient descent: θ ← θ − η ∂L/∂θ.", f"`{TEXTBOOK}/sgd.py` sgd_step",
            "`tests/test_train.py::test_sgd_step_is_theta_minus_lr_grad`", "—",
            TESTED + " (on the mini-batch mean)"),
        Row("η too small: stuck early; η too large: no minimum is found.",
            "`mnist_mlp/experiments/sweeps.py` learning_rate_sweep",
            "`tests/test_claims.py::test_quick_claims_on_tiny_digits`", png["learning_rate"],
            v.learning_rate(c)),
        Row("Backpropagation: ∂L/∂θ⁽ᵏ⁾ = (∇L)ᵀ Df⁽ⁿ⁾ ⋯ Df⁽ᵏ⁺¹⁾ Dg⁽ᵏ⁾ ∂q⁽ᵏ⁾/∂θ⁽ᵏ⁾, Jacobians "
            "multiplied from the output back.", f"`{TEXTBOOK}/backprop.py` gradients",
            "`tests/test_backprop.py::test_backprop_equals_autograd`", "—",
            "Holds: equal to autograd (tested)."),
        Row("Larger mini-batches adjust the weights better per step …",
            "`mnist_mlp/experiments/sweeps.py` batch_size_sweep",
            "`tests/test_claims.py::test_quick_claims_on_tiny_digits`", png["batch_size"],
            v.batches_better(c)),
        Row("… at a higher computational cost.",
            "`mnist_mlp/experiments/sweeps.py` batch_size_sweep",
            "`tests/test_claims.py::test_quick_claims_on_tiny_digits`", png["batch_size"],
            v.batches_cost(c)),
    ]


def _mnist_rows(c: Claims, png: dict[str, str]) -> list[Row]:
    """The MNIST example: input, hidden layer, recipe, figures, measures."""
    return [
        Row("Pixels are grey values normalised to [0, 1).", "`mnist_mlp/data/digits.py`",
            "`tests/test_data.py::test_reads_tensors_with_shapes_dtypes_and_exact_values`", "—",
            TESTED + ": byte / 256"),
        Row("A hidden layer of as few as 10 neurons will do.",
            "`mnist_mlp/experiments/sweeps.py` hidden_size_sweep",
            "`tests/test_claims.py::test_quick_claims_on_tiny_digits`", png["hidden_size"],
            v.hidden_size(c)),
        Row("The MNIST recipe: softmax output, cross-entropy (35).",
            "`mnist_mlp/experiments/configurations.py` `l30-`/`l100-softmax_eq35`",
            "`tests/test_reproduce.py::test_the_configurations_with_the_textbook_figures`",
            "`reproduction.png`", v.recipe(c)),
        Row("l = 30, η = 0.5, m = 10, 30 epochs: 95.49 % (quadratic 95.42 %); l = 100: 96.82 % "
            "(quadratic 96.59 %).", "`mnist_mlp/experiments/configurations.py`",
            "`tests/test_reproduce.py::test_the_configurations_with_the_textbook_figures`",
            "`reproduction.png`", v.figures(c)),
        Row("96.59 % → 96.82 % corrects about 1 in 14 wrongly classified pictures.",
            "`mnist_mlp/experiments/errata.py` chapter_one_in",
            "`tests/test_errata.py::test_one_in_fourteen_is_one_in_fourteen_point_eight`", "—",
            v.one_in(c)),
        Row("Accuracy, precision, recall (sensitivity), specificity: their definitions.",
            f"`{TEXTBOOK}/metrics.py` classification_report",
            "`tests/test_metrics.py::test_to_dict_is_json_serialisable`", "—", TESTED + "."),
        Row("These measures can mislead on very unbalanced data.",
            "`mnist_mlp/experiments/unbalanced.py`",
            "`tests/test_metrics.py::test_unbalanced_data_mislead_accuracy_and_specificity_not_"
            "balanced_accuracy`", png["unbalanced"], v.unbalanced(c)),
    ]


def row_table(table: list[Row]) -> str:
    lines = ["| # | the chapter says (in our words) | code | test | figure | verdict |",
             "|---:|---|---|---|---|---|"]
    lines += [f"| {i} | {r.statement} | {r.code} | {r.test} | {r.figure} | {r.verdict} |"
              for i, r in enumerate(table, start=1)]
    return "\n".join(lines)


def sweep_table(points: list[Point], what: str) -> str:
    lines = [f"| {what} | final test accuracy, mean ± std (min–max) | diverged | updates | "
             "training loss still falling |", "|---:|---:|---:|---:|:---:|"]
    for p in points:
        kept = p.kept
        cell = "—" if not kept else (
            f"{100 * p.mean:.2f} ± {100 * _std(kept):.2f} "
            f"({100 * min(kept):.2f}–{100 * max(kept):.2f})")
        falling = {True: "yes", False: "no", None: "—"}[p.still_descending()]
        lines.append(f"| {p.value:g} | {cell} | {p.diverged} of {len(p.final)} | {p.updates:,} "
                     f"| {falling} |")
    return "\n".join(lines)


def _std(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((x - mean) ** 2 for x in values) / (len(values) - 1))


def markdown(c: Claims, stem: str = "claims") -> str:
    s, m = c.settings, c.machine
    png = {name: f"`{stem}_{name}.png`" for name in FIGURES}  # a name, not a link: README
    # quotes the table from the repository's root, where a link relative to results/ breaks
    quick = (["> **Quick run** — a smoke test, not the measurement: "
              f"{s.seeds} seeds, {s.epochs} epochs, {s.train_images():,} training images.", ""]
             if s.quick else [])
    return "\n".join([
        "# The chapter, claim by claim", "", *quick,
        "Each statement of the chapter, in our words, with the code that implements or measures "
        "it, the test that checks it, the figure that shows it and the verdict, written by "
        "`scripts/claims.py` from its measurements. The sweeps start from the reproduction's "
        f"`{BASE}` protocol (784-30-10, sigmoid hidden layer, softmax output with the chapter's "
        "softmax cross-entropy, weights and biases from N(0, 1), η = 0.5, mini-batches of 10, "
        f"{s.epochs} epochs, the first {s.train_images():,} training images, the 10,000 test "
        f"images) and change one setting; {s.seeds} seeds (0–{s.seeds - 1}) per value. The "
        f"figures named in the table are in the folder of this file.", "",
        row_table(rows(c, png)), "",
        f"## Learning rate\n\n{sweep_table(c.learning_rate, 'η')}\n\n"
        f"![learning rate]({stem}_learning_rate.png)", "",
        f"## Hidden layer\n\n{sweep_table(c.hidden_size, 'l')}\n\n"
        f"![hidden layer]({stem}_hidden_size.png)", "",
        f"## Mini-batches\n\nAfter {s.epochs} epochs:\n\n{sweep_table(c.batch_size.epochs, 'm')}"
        f"\n\nAfter {c.batch_size.fixed_updates:,} updates (fresh images where they suffice):"
        f"\n\n{sweep_table(c.batch_size.updates, 'm')}\n\n![mini-batches]({stem}_batch_size.png)",
        "",
        f"![L1 against L2]({stem}_l1_l2.png)\n\n![backward engineering]"
        f"({stem}_backward_engineering.png)\n\n![unbalanced]({stem}_unbalanced.png)", "",
        f"Command: `{c.command or 'python scripts/claims.py'}`. Machine: {m.get('cpu', '?')} "
        f"({m.get('cores', '?')} cores, {m.get('torch_threads', '?')} torch threads), device "
        f"{m.get('device', '?')}, torch {m.get('torch', '?')}. Wall time {c.wall_seconds:.0f} s; "
        f"started {c.started}.", ""])


def to_dict(c: Claims) -> dict[str, Any]:
    return asdict(c)


def save(c: Claims, out: Path) -> dict[str, Path]:
    """Write ``claims.md``, ``claims.json`` and ``claims_<figure>.png`` (``claims-quick…`` for a
    quick run) into ``out``, atomically; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "claims-quick" if c.settings.quick else "claims"
    paths = {}
    for name, draw in FIGURES.items():
        fig = draw(c)
        paths[name] = out / f"{stem}_{name}.png"
        try:
            write_atomically(paths[name], lambda f, fig=fig: fig.savefig(f, format="png", dpi=100))
        finally:
            plt.close(fig)
    paths["json"] = out / f"{stem}.json"
    write_json(paths["json"], to_dict(c))
    paths["md"] = out / f"{stem}.md"
    text = markdown(c, stem).encode()
    write_atomically(paths["md"], lambda f: f.write(text))
    return paths
