"""``claims.md``: the chapter's statements in a table, with the code, test, figure and verdict of
each, then the sweeps' numbers; ``save`` writes it with ``claims.json`` and the figures."""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from mnist_mlp.files import write_atomically, write_json

from . import claims_rows as v
from . import claims_rules as rule
from .claim_settings import BASE
from .claims import Claims
from .claims_plots import FIGURES
from .claims_rows import TESTED
from .errata import errata_markdown
from .significance import t_bound, t_tail, welch_dof
from .statements import AS_WRITTEN, ERRATUM, IDS, KINDS, STATEMENTS
from .sweeps import Point

TEXTBOOK = "mnist_mlp/textbook"
L = f"{TEXTBOOK}/losses.py"
X = "mnist_mlp_lab"
R = "tests/lab/test_claims.py::test_rule_"
RULE = "`mnist_mlp_lab/claims_rules.py`"
BEYOND = ("No computation here can check it (beyond a test): a statement about {what}.")

@dataclass(frozen=True)
class Row:
    """One statement of the chapter in the table."""

    id: str  # its id in ``statements``
    statement: str
    code: str
    test: str
    figure: str
    verdict: str


Where = tuple[str, str, str, str]
"""A row but for its statement: code, test, figure, verdict."""


def rows(c: Claims, png: dict[str, str]) -> list[Row]:
    """One ``Row`` per statement of the chapter (``statements.STATEMENTS``), in its order."""
    where = _loss_rows(c, png) | _slowdown_rows(c, png) | _training_rows(c, png) | \
        _mnist_rows(c, png) | _figure_rows(c)
    missing = [s.id for s in STATEMENTS if s.id not in where]
    extra = set(where) - set(IDS)
    if missing or extra:
        raise AssertionError(f"rows missing for {missing}, rows without a statement: {extra}")
    return [Row(s.id, s.says, *where[s.id]) for s in STATEMENTS]


def _t(*tests: str) -> str:
    """``tests`` as the table names them: `path::name`, then `::name` in the same file."""
    shown, last = [], None
    for test in tests:
        path, name = test.split("::")
        shown.append(f"`{test}`" if path != last else f"`::{name}`")
        last = path
    return ", ".join(shown)


def _loss_rows(c: Claims, png: dict[str, str]) -> dict[str, Where]:
    """The parameters and the losses."""
    return {
        "parameters": (f"`{TEXTBOOK}/model.py` MLP",
                       _t("tests/test_model.py::test_parameter_names_and_shapes"), "—",
                       f"{TESTED}: 785 l + 10(l + 1) parameters."),
        "loss-choice": (f"`{X}/configurations.py`, {RULE} loss_choice",
                        _t(R + "loss_choice"), "`reproduction.png`", v.loss_choice(c)),
        "mse": (f"`{L}` mse_loss", _t("tests/test_losses.py::test_mse_by_hand"), "—",
                TESTED + ": reduction \"mean\""),
        "l2-smooth": (f"`{L}` mse_loss", _t("tests/lab/test_claims.py::test_the_l2_loss_is_smooth_"
                                            "where_the_l1_loss_has_a_kink"), "—",
                      f"{TESTED}: its gradient F − y is continuous; the L1 loss's jumps."),
        "mae": (f"`{L}` mae_loss", _t("tests/test_losses.py::test_mae_by_hand", "tests/lab/"
                                      "test_errata.py::test_the_chapters_l1_loss_has_half_the_"
                                      "gradient_of_the_mean_absolute_error"), "—", v.mae(c)),
        "outliers": (f"`{X}/loss_claims.py` l1_l2_fits",
                     _t("tests/lab/test_claims.py::test_l1_fit_resists_outliers_l2_fit_does_not",
                        R + "outliers"), png["l1_l2"], v.l1_l2(c)),
        "common-losses": ("—", "—", "—", BEYOND.format(what="common practice")),
        "eq35": (f"`{L}` binary_cross_entropy", _t("tests/test_losses.py::test_cross_entropies_"
                                                   "are_the_chapters_sums_over_samples"), "—",
                 TESTED + ": reduction \"sum\""),
        "eq35-nll": (f"`{X}/errata.py` likelihood_check", _t(
            "tests/lab/test_errata.py::test_eq35_is_a_negative_log_likelihood_only_for_independent_"
            "sigmoids", R + "within_rounding"), "—", v.eq35_nll(c)),
        "eq35-sigmoid-output": (f"`{X}/sweeps.py` output_sweep", _t(R + "preferable"),
                                png["choices"], v.eq35_sigmoid_output(c)),
    }


def _slowdown_rows(c: Claims, png: dict[str, str]) -> dict[str, Where]:
    """The learning slowdown, the backward engineering, the softmax output."""
    neuron, derivation = f"`{TEXTBOOK}/neuron.py`", f"`{TEXTBOOK}/softmax_gradient.py`"
    return {
        "speed-of-learning": (f"`{X}/slowdown.py` run_all", _t(
            "tests/test_neuron.py::test_the_slowdown_saturated_start",
            "tests/test_neuron.py::test_quadratic_gradient_is_smaller_when_more_wrong"),
            "`slowdown.png`", TESTED + " (one neuron); \"learning rate\" for this speed: Errata."),
        "slowdown-neuron": (f"{neuron} quadratic_gradients", _t(
            "tests/test_gradients.py::test_sigmoid_neuron_quadratic_cost",
            "tests/test_gradients.py::test_learning_slowdown"), "`slowdown.png`", TESTED + "."),
        "slowdown-network": (f"`{X}/evidence.py` saturation_evidence", _t(
            "tests/lab/test_reproduce.py::test_saturation_evidence_finds_an_output_stuck_at_zero",
            R + "slowdown_network"), "`reproduction.png`", v.network_slowdown(c)),
        "eq36-37": (f"{neuron} cross_entropy_gradients",
                    _t("tests/test_gradients.py::test_sigmoid_neuron_cross_entropy"),
                    "`slowdown.png`", TESTED + "."),
        "backward-engineering": (f"`{X}/loss_claims.py` backward_engineering", _t(
            "tests/lab/test_claims.py::test_integrated_gradient_is_the_cross_entropy",
            R + "backward_engineering",
            "tests/lab/test_errata.py::test_backward_engineering_compares_with_37_not_36"),
            png["backward_engineering"], v.backward(c)),
        "softmax-first-term": (f"`{X}/sweeps.py` output_sweep", _t(R + "preferable"),
                               png["choices"], v.softmax_first_term(c)),
        "softmax-ll": (f"`{L}` log_likelihood", _t("tests/test_losses.py::test_cross_"
                                                   "entropies_are_the_chapters_sums_over_"
                                                   "samples"), "—",
                       TESTED + ": reduction \"sum\""),
        "softmax-ll-minimum": (f"`{L}` log_likelihood", _t(
            "tests/lab/test_claims.py::test_the_first_term_is_smallest_as_the_labels_output_nears_1"),
            "—", TESTED + ": −ln F_nᵢ ≥ 0, falling to 0 as F_nᵢ → 1."),
        "softmax-bias-gradient": (derivation, _t(
            "tests/lab/test_errata.py::test_printed_result_differs_from_autograd_and_corrected_"
            "equals_it", R + "erratum"), "—", v.derivation(c)),
        "softmax-weight-gradient": (derivation, _t(
            "tests/lab/test_errata.py::test_the_weights_claim_holds_only_corrected",
            R + "within_rounding"),
            "—", v.weight_linearity(c)),
    }


def _training_rows(c: Claims, png: dict[str, str]) -> dict[str, Where]:
    """Gradient descent, the learning rate, backpropagation, mini-batches."""
    sweeps, batches = f"`{X}/sweeps.py`", png["batch_size"]
    return {
        "good-minimum": ("—", "—", "—", BEYOND.format(what="loss landscapes in general")),
        "unseen-data": (f"`{X}/configurations.py` `l30-`/`l100-softmax_eq35`",
                        _t(R + "unseen_data"), "`reproduction.png`", v.unseen_data(c)),
        "gradient-descent": (f"`{TEXTBOOK}/sgd.py` sgd_step",
                             _t("tests/test_train.py::test_sgd_step_is_theta_minus_lr_grad"), "—",
                             TESTED + " (on the mini-batch mean)"),
        "eta": (f"{sweeps} learning_rate_sweep", _t(R + "eta"), png["learning_rate"],
                v.learning_rate(c)),
        "extremum": (f"`{X}/errata.py` saddle_descent", _t(
            "tests/lab/test_errata.py::test_gradient_descent_converges_to_a_saddle_point",
            R + "erratum"), "—", v.extremum(c)),
        "backprop": (f"`{TEXTBOOK}/backprop.py` gradients",
                     _t("tests/test_backprop.py::test_backprop_equals_autograd"), "—",
                     TESTED + ": equal to autograd."),
        "backprop-box": (f"`{X}/errata.py` jacobian_chain", _t(
            "tests/lab/test_errata.py::test_the_box_makes_quadratically_many_jacobian_products",
            R + "erratum"), "—", v.backprop_box(c)),
        "autodiff": (f"`{TEXTBOOK}/backprop.py` gradients", _t(
            "tests/test_backprop.py::test_backprop_equals_autograd",
            "tests/lab/test_claims.py::test_autograd_takes_derivatives_of_any_order"), "—",
            TESTED + ": backpropagation by hand equals reverse-mode autograd, which also "
            "differentiates its own derivatives."),
        "batch-middle": (f"{sweeps} batch_size_sweep", _t(R + "batch_middle"), batches,
                         v.batch_middle(c)),
        "batch-better": (f"{sweeps} batch_size_sweep", _t(R + "batch_better"), batches,
                         v.batches_better(c)),
        "batch-cost": (f"{sweeps} batch_size_sweep", _t(R + "batch_cost"), batches,
                       v.batches_cost(c)),
        "epoch": ("`mnist_mlp/data/batches.py` batches", _t(
            "tests/test_data.py::test_every_epoch_covers_each_digit_once_in_a_new_order"), "—",
            TESTED + "."),
    }


def _mnist_rows(c: Claims, png: dict[str, str]) -> dict[str, Where]:
    """The MNIST example: the data, the network, the recipe, the measures."""
    sweeps = f"`{X}/sweeps.py`"
    return {
        "drosophila": ("—", "—", "—", BEYOND.format(what="the field")),
        "hardcoding": ("—", "—", "—", BEYOND.format(what="rules written by hand, which this "
                                                    "repository does not attempt")),
        "mnist-data": ("`mnist_mlp/data/mnist.py` load_mnist", _t(
            "tests/test_data.py::test_reads_tensors_with_shapes_dtypes_and_exact_values",
            "tests/test_data.py::test_real_mnist"), "—",
            TESTED + ": 60,000 training and 10,000 test images, 28 × 28, labels 0–9."),
        "pixels": ("`mnist_mlp/data/digits.py`", _t(
            "tests/test_data.py::test_reads_tensors_with_shapes_dtypes_and_exact_values"), "—",
            TESTED + ": byte / 256"),
        "output-distribution": (f"`{TEXTBOOK}/activations.py` Softmax", _t(
            "tests/test_model.py::test_softmax_output_is_a_distribution_and_logits_are_its_"
            "preactivation"), "—", TESTED + ": the softmax's outputs sum to 1."),
        "hidden-10": (f"{sweeps} hidden_size_sweep", _t(R + "hidden_10"), png["hidden_size"],
                      v.hidden_size(c)),
        "sigmoid-hidden": (f"{sweeps} activation_sweep", _t(R + "sigmoid_hidden"),
                           png["choices"], v.sigmoid_hidden(c)),
        "recipe": (f"`{X}/configurations.py` `l30-`/`l100-softmax_eq35`; {sweeps}",
                   _t(R + "recipe"), "`reproduction.png`", v.recipe(c)),
        "accuracy": (f"`{TEXTBOOK}/metrics.py` accuracy",
                     _t("tests/test_metrics.py::test_accuracy_hand_example_and_trace"), "—",
                     TESTED + "."),
        "measures": (f"`{TEXTBOOK}/metrics.py` classification_report",
                     _t("tests/test_metrics.py::test_report_hand_example"), "—", TESTED + "."),
        "recall-prose": (f"`{X}/errata.py` recall_readings", _t(
            "tests/lab/test_errata.py::test_recall_is_the_share_of_actual_positives_found",
            R + "erratum"), "—", v.recall_prose(c)),
        "unbalanced": (f"`{X}/unbalanced.py`", _t(
            "tests/test_metrics.py::test_unbalanced_data_mislead_accuracy_and_specificity_not_"
            "balanced_accuracy", R + "unbalanced"), png["unbalanced"], v.unbalanced(c)),
        "train-function": ("—", "—", "—", BEYOND.format(what="other packages")),
    }


def _figure_rows(c: Claims) -> dict[str, Where]:
    """The chapter's MNIST figures and what it says of them."""
    conf, figure = f"`{X}/configurations.py`", "`reproduction.png`"
    return {
        "figures": (conf, _t("tests/lab/test_reproduce.py::test_the_configurations_with_the_"
                             "textbook_figures", R + "figures"), figure, v.figures(c)),
        "quadratic-figures": (f"{conf} `l30-`/`l100-quadratic_eta0.5`", _t(
            "tests/lab/test_reproduce.py::test_the_configurations_with_the_textbook_figures",
            R + "figures"), figure, v.quadratic_figures(c)),
        "slightly-worse": (f"{RULE} slightly_worse", _t(R + "slightly_worse"), figure,
                           v.slightly_worse(c)),
        "considerable": (f"{RULE} considerable", _t(R + "considerable"), figure,
                         v.considerable(c)),
        "one-in-14": (f"`{X}/errata.py` chapter_one_in", _t(
            "tests/lab/test_errata.py::test_one_in_fourteen_is_one_in_fourteen_point_eight",
            R + "erratum"), "—", v.one_in(c)),
        "not-state-of-the-art": ("—", "—", "—", BEYOND.format(what="the state of the art")),
    }


def row_table(table: list[Row]) -> str:
    lines = ["| # | the chapter says (in our words) | code | test | figure | verdict |",
             "|---:|---|---|---|---|---|"]
    lines += [f"| {i} | {r.statement} | {r.code} | {r.test} | {r.figure} | {r.verdict} |"
              for i, r in enumerate(table, start=1)]
    return "\n".join(lines)


def kinds_line(table: list[Row]) -> str:
    """How many statements the table holds, of each kind (``statements``)."""
    kinds = [statement.kind for statement in STATEMENTS]
    words = {ERRATUM: "errata", AS_WRITTEN: "as written (tested)"}
    counts = ", ".join(f"{kinds.count(kind)} {words.get(kind, kind)}" for kind in KINDS)
    return (f"{len(table)} statements, every one the chapter makes (`{X}/statements.py`): "
            f"{counts}.")


def _bound(seeds: int) -> str:
    """What t is at the sweeps' number of seeds a side."""
    if seeds < 2:
        return "with one seed a side there is no spread to judge by, so no difference counts"
    equal, one_flat = welch_dof(1, seeds, 1, seeds), welch_dof(1, seeds, 0, seeds)
    return (f"with the sweeps' {seeds} seeds a side, t = {t_bound(equal):.2f} where their "
            f"spreads are equal, {t_bound(one_flat):.2f} where one side has none (at 2 "
            f"standard errors the confidence would be {100 * (1 - t_tail(2, equal)):.0f} %)")


def legend(table: list[Row], seeds: int) -> str:
    """How each verdict is computed: the rule of every row that has one (``RULES``), and the
    bound of a difference at ``seeds`` seeds a side."""
    lines = ["## How each verdict is computed", "",
             f"A difference between two settings counts when it exceeds {rule.T} standard "
             "errors of the difference of their means over the seeds, t being Student's at 95 % "
             f"(two-sided) for Welch's degrees of freedom (Welch's t-test): {_bound(seeds)}. "
             "Diverged networks are "
             "counted apart, never averaged in; stalled ones stay in the mean. *As written "
             "(tested)*: the named test checks the code against the statement. *Beyond a "
             "test*: said so in the row. The thresholds are named in "
             f"{RULE}.", ""]
    lines += [f"- **{i}** (`{r.id}`): {rule.RULES[r.id]}"
              for i, r in enumerate(table, start=1) if r.id in rule.RULES]
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
        lines.append(f"| {p.label or f'{p.value:g}'} | {cell} | {p.diverged} of {len(p.final)} "
                     f"| {p.updates:,} | {falling} |")
    return "\n".join(lines)


def _std(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((x - mean) ** 2 for x in values) / (len(values) - 1))


def markdown(c: Claims, stem: str = "claims") -> str:
    s = c.settings
    png = {name: f"`{stem}_{name}.png`" for name in FIGURES}  # a name, not a link: README
    # quotes the table from the repository's root, where a link relative to results/ breaks
    quick = (["> **Quick run** — a smoke test, not the measurement: "
              f"{s.seeds} seeds, {s.epochs} epochs, {s.train_images():,} training images.", ""]
             if s.quick else [])
    table = rows(c, png)
    return "\n".join([
        "# The chapter, claim by claim", "", *quick,
        "Each statement of the chapter, in our words, with the code that implements or measures "
        "it, the test that checks it, the figure that shows it and the verdict, computed by "
        "`scripts/claims.py` from its measurements by the rule stated below the table. The "
        f"sweeps start from the chapter's MNIST recipe, the reproduction's `{BASE}` protocol "
        "(784-30-10, sigmoid hidden layer, softmax output with the cross-entropy (35), weights "
        "and biases from N(0, 1), η = 0.5, mini-batches of 10, "
        f"{s.epochs} epochs, the first {s.train_images():,} training images, the 10,000 test "
        f"images) and change one setting; {s.seeds} seeds (0–{s.seeds - 1}) per value. The "
        f"figures named in the table are in the folder of this file.", "",
        kinds_line(table), "",
        row_table(table), "",
        legend(table, s.seeds), "",
        *_sweep_sections(c, stem), "",
        f"## Errata\n\n{errata_markdown()}", "",
        _how_it_was_run(c), ""])


def _sweep_sections(c: Claims, stem: str) -> list[str]:
    s = c.settings
    return [
        f"## Learning rate\n\n{sweep_table(c.learning_rate, 'η')}\n\n"
        f"![learning rate]({stem}_learning_rate.png)", "",
        f"## Hidden layer\n\n{sweep_table(c.hidden_size, 'l')}\n\n"
        f"![hidden layer]({stem}_hidden_size.png)", "",
        f"## Mini-batches\n\nAfter {s.epochs} epochs:\n\n{sweep_table(c.batch_size.epochs, 'm')}"
        f"\n\nAfter {c.batch_size.fixed_updates:,} updates (fresh images where they suffice):"
        f"\n\n{sweep_table(c.batch_size.updates, 'm')}\n\n![mini-batches]({stem}_batch_size.png)",
        "",
        f"## The recipe's choices\n\nThe hidden layer's activation:\n\n"
        f"{sweep_table(c.activation, 'hidden layer')}\n\nThe output layer and its loss:\n\n"
        f"{sweep_table(c.output, 'output + loss')}\n\n![the recipe's choices]"
        f"({stem}_choices.png)", "",
        f"![L1 against L2]({stem}_l1_l2.png)\n\n![backward engineering]"
        f"({stem}_backward_engineering.png)\n\n![unbalanced]({stem}_unbalanced.png)"]


def _how_it_was_run(c: Claims) -> str:
    m = c.machine
    return (f"Command: `{c.command or 'python scripts/claims.py'}`. Machine: {m.get('cpu', '?')} "
            f"({m.get('cores', '?')} cores, {m.get('torch_threads', '?')} torch threads), device "
            f"{m.get('device', '?')}, torch {m.get('torch', '?')}. Wall time {c.wall_seconds:.0f} "
            f"s; started {c.started}.")


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
            write_atomically(paths[name], functools.partial(fig.savefig, format="png", dpi=100))
        finally:
            plt.close(fig)
    paths["json"] = out / f"{stem}.json"
    write_json(paths["json"], to_dict(c))
    paths["md"] = out / f"{stem}.md"
    text = markdown(c, stem).encode()
    write_atomically(paths["md"], lambda f: f.write(text))
    return paths
