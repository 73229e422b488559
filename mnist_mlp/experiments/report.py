"""The reproduction's report: the Markdown tables and paragraphs, the plot, the files.

``mnist_mlp.experiments.reproduce`` measures; this module shows what it measured.
``save(reproduction, out)`` writes ``reproduction.md`` (``markdown``: the table and what the
stalls show), ``reproduction.json`` (everything) and ``reproduction.png`` (``plot``: test
accuracy against epoch), atomically.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..files import write_atomically, write_json
from .configurations import Configuration, Settings, train_images
from .evidence import LOST_RECALL, SATURATION, STUCK_FRACTION
from .results import READINGS, ConfigurationResult, Reproduction, Run, stall_rule
from .stats import Spread, final_accuracy

# ---------------------------------------------------------------------------------------------
# The report


def _cell(spread: Spread | None) -> str:
    if spread is None:
        return "—"
    return (f"{100 * spread.mean:.2f} ± {100 * spread.std:.2f} "
            f"({100 * spread.min:.2f}–{100 * spread.max:.2f})")


def _yes(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "no")


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{seconds:.1f} s"


def _percent(fraction: float | None, digits: int = 2) -> str:
    return "—" if fraction is None else f"{100 * fraction:.{digits}f} %"


def table(reproduction: Reproduction) -> str:
    """The Markdown table: one row per configuration."""
    lines = ["| configuration | output, cost | η | textbook | final epoch "
             "| best epoch (textbook's reading) | epoch chosen by validation "
             "| textbook within [min, max]: final / best / validated | stalled |",
             "|---|---|---:|---:|---:|---:|---:|:---:|---:|"]
    for result in reproduction.results:
        c, summary = result.configuration, result.summary()
        within = result.within()
        stalled = f"{len(result.stalled)} of {len(result.runs)}"
        if summary["diverged"]:
            stalled += f" (+{summary['diverged']} diverged)"
        lines.append(
            f"| `{c.name}` | {c.cost} | {c.lr:g} | "
            f"{'—' if c.textbook is None else f'{100 * c.textbook:.2f}'} | "
            + " | ".join(_cell(summary.get(key)) for key in READINGS)  # type: ignore[arg-type]
            + f" | {' / '.join(_yes(within[key]) for key in READINGS)} | {stalled} |")
    return "\n".join(lines)


def evidence_table(reproduction: Reproduction) -> str:
    """Healthy against stalled networks, per configuration: the numbers behind the stalls."""
    lines = ["| configuration | runs | final test acc. | output units stuck at 0 / at 1 "
             "| digits lost (recall < 5 %) | stuck units = lost digits "
             "| lowest per-digit recall (mean) | stuck hidden units "
             "| saturated hidden activations "
             "| mean \\|δ\\| of wrong outputs: stuck units / others |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for result in reproduction.results:
        for group, ev in result.evidence().items():
            if ev is None:
                continue
            lost = f"{ev['lost_digits_per_network']:.1f} / network"
            if ev["lost_digits"]:
                lost += f" (digits {', '.join(map(str, ev['lost_digits']))})"
            lines.append(
                f"| `{result.configuration.name}` | {ev['networks']} {group} "
                f"| {_percent(ev['final_accuracy'])} "
                f"| {ev['stuck_outputs']['at_0']} / {ev['stuck_outputs']['at_1']} | {lost} "
                f"| {ev['stuck_outputs_are_the_lost_digits']} of {ev['networks']} "
                f"| {_percent(ev['min_recall'], 1)} "
                f"| {_percent(ev['stuck_hidden_fraction'], 1)} "
                f"| {_percent(ev['saturated_hidden_fraction'], 1)} "
                f"| {_sci(ev['wrong_delta_stuck'])} / {_sci(ev['wrong_delta_other'])} |")
    return "\n".join(lines)


def _sci(value: float | None) -> str:
    return "—" if value is None else f"{value:.1e}"


def stall_paragraph(reproduction: Reproduction) -> str:
    """Stalled runs (and late escapes), in words, with the numbers."""
    margin = reproduction.settings.stall_margin
    total = sum(len(r.runs) for r in reproduction.results)
    stalled = [r for r in reproduction.results if r.stalled]
    count = sum(len(r.stalled) for r in stalled)
    text = [f"**Stalled runs.** Rule: {stall_rule(margin)} (healthy runs of one configuration "
            f"lie within about a point of each other; an output neuron stuck at 0 costs the "
            f"~10 % of test images of its digit). Stalled runs are included in the table above "
            f"and drawn apart from the bands of the plot. "]
    if not stalled:
        text.append(f"None of the {total} runs stalled. ")
    else:
        parts = [f"{len(r.stalled)} of {len(r.runs)} `{r.configuration.name}` runs "
                 f"(seed{'s' * (len(r.stalled) > 1)} "
                 f"{', '.join(str(run.seed) for run in r.stalled)}; final test accuracy "
                 f"{', '.join(_percent(final_accuracy(run.history), 1) for run in r.stalled)})"
                 for r in stalled]
        text.append(f"{count} of {total} runs stalled: {'; '.join(parts)}. ")
    for r in stalled:
        text.append("\n\n" + _stall_evidence_sentence(r))
    escapes = [(r, e) for r in reproduction.results for e in r.late_escapes(margin)]
    if escapes:
        listed = "; ".join(
            f"`{r.configuration.name}` seed {run.seed} (below the line until epoch {epoch}, "
            f"final {_percent(final_accuracy(run.history), 1)})" for r, (run, epoch) in escapes)
        text.append(
            f"\n\n**Late escapes.** A stall is a plateau, not a verdict: {len(escapes)} healthy "
            f"run{'s' * (len(escapes) > 1)} spent a quarter of the epochs or more below the "
            f"stall line of {'their' if len(escapes) > 1 else 'its'} configuration before "
            f"escaping — {listed}. The count of stalled runs depends on the "
            f"{reproduction.settings.epochs}-epoch cut-off.")
    return "\n".join(line.rstrip() for line in "".join(text).strip().splitlines())


def _stall_evidence_sentence(r: ConfigurationResult) -> str:
    ev, ok = r.evidence()["stalled"], r.evidence()["healthy"]
    name = r.configuration.name
    if ev is None:
        return ""
    lost = (f"; digits {', '.join(map(str, ev['lost_digits']))} across the networks"
            if ev["lost_digits"] else "")
    sentence = (
        f"Why they stall, measured on the trained `{name}` networks and the test set: the "
        f"{ev['networks']} stalled networks have {ev['stuck_outputs']['at_0']} output neurons "
        f"stuck at 0 and {ev['stuck_outputs']['at_1']} at 1 (σ < {SATURATION:g} or "
        f"> {1 - SATURATION:g} on ≥ {100 * STUCK_FRACTION:g} % of the test images), "
        f"{ev['lost_digits_per_network']:.1f} lost digits per network (recall "
        f"< {100 * LOST_RECALL:g} %{lost}; lowest recall {_percent(ev['min_recall'], 1)} on "
        f"average), and in {ev['stuck_outputs_are_the_lost_digits']} of {ev['networks']} the "
        f"stuck neurons are exactly the lost digits")
    if ok is not None:
        sentence += (f"; the {ok['networks']} healthy ones have "
                     f"{ok['stuck_outputs']['at_0'] + ok['stuck_outputs']['at_1']} stuck output "
                     f"neurons and lowest recall {_percent(ok['min_recall'], 1)}")
    sentence += (f". The hidden layers do not differ: stuck hidden units "
                 f"{_percent(ev['stuck_hidden_fraction'], 1)} (healthy "
                 f"{_percent(ok['stuck_hidden_fraction'], 1) if ok else '—'}), saturated hidden "
                 f"activations {_percent(ev['saturated_hidden_fraction'], 1)} (healthy "
                 f"{_percent(ok['saturated_hidden_fraction'], 1) if ok else '—'}). ")
    if ev["wrong_delta_stuck"] is not None:
        sentence += (
            f"On the test images where a stuck output is wrong, |F − y| averages "
            f"{ev['stuck_output_error']:.2f}, yet the output error δ = ∂C/∂z averages "
            f"{ev['wrong_delta_stuck']:.1e}, against {_sci(ev['wrong_delta_other'])} for the "
            f"wrong outputs of the other neurons")
        if r.configuration.loss == "mse":
            sentence += (": with the quadratic cost δ = (F − y)σ'(z), and σ'(z) ≈ 0 for a "
                         "saturated sigmoid, so the stuck neuron gets almost no gradient — the "
                         "learning slowdown of ch. 3; the cross-entropy's δ = F − y would be "
                         f"{ev['stuck_output_error']:.2f}. ")
        else:
            sentence += ". "
    if r.healthy:
        healthy, within = r.summary(r.healthy), r.within(r.healthy)
        sentence += (f"Without its stalled runs `{name}` reads {_cell(healthy['best'])} % at "
                     f"the best epoch and {_cell(healthy['final'])} % at the final one")
        if r.configuration.textbook is not None:
            sentence += (f" (textbook {100 * r.configuration.textbook:.2f} % within [min, max]: "
                         f"{' / '.join(_yes(within[key]) for key in READINGS)})")
        sentence += "."
    return sentence


def markdown(reproduction: Reproduction, png_name: str = "reproduction.png") -> str:
    """``reproduction.md``: the table, the stalled runs, the gradient check, how it was run."""
    s, m = reproduction.settings, reproduction.machine
    n_seeds = f"seeds 0–{s.seeds - 1}" if s.seeds > 1 else "seed 0"
    hardware = f"{m.get('cpu', '?')} ({m.get('cores', '?')} cores, {m.get('torch_threads', '?')}" \
               f" torch threads)"
    if "gpu" in m:
        hardware += f", GPU {m['gpu']}"
    lines = [
        "# The textbook's MNIST figures, reproduced over seeds",
        "",
    ]
    if s.quick:
        lines += ["> **Quick run** — a smoke test, not the reference protocol: "
                  f"{s.seeds} seeds, {s.epochs} epochs, {train_images(s):,} training images.",
                  ""]
    lines += [
        f"784-l-10 network, sigmoid hidden layer, weights and biases from N(0, 1), mini-batches "
        f"of {s.batch_size}, {s.epochs} epochs of plain SGD, trained on the first "
        f"{train_images(s):,} training images, validated on the last {s.validation_size:,}, "
        f"tested on the 10,000 test images; {s.seeds} runs per configuration ({n_seeds}; seed "
        f"s gives the same initial weights and mini-batch order in every configuration of one "
        f"l). Test accuracy in %, mean ± std (min–max) over all runs, stalled runs included. "
        f"*Best epoch* is the best of the {s.epochs} epochs on the test set itself — how the "
        f"textbook's figures are read; *epoch chosen by validation* is the test accuracy at the "
        f"epoch with the best validation accuracy — the honest figure.",
        "",
        table(reproduction),
        "",
        stall_paragraph(reproduction),
        "",
        evidence_table(reproduction),
        "",
        "Stuck unit: σ < 0.01 on ≥ 99 % of the test images (stuck at 0) or > 0.99 (stuck at 1). "
        "Lost digit: test recall below 5 %. Saturated hidden activations: share of (test image, "
        "hidden unit) pairs outside [0.01, 0.99]. δ = ∂C/∂z of the output layer, averaged over "
        "the (image, output unit) pairs where |F − y| > ½.",
        "",
        f"![test accuracy against epoch]({png_name})",
        "",
        "**Softmax gradient check.** For a softmax output with the log-likelihood cost summed "
        "over a mini-batch, the output-bias gradient from autograd equals Σᵢ (F(xᵢ) − yᵢ) "
        "(Nielsen eq. 81–82):",
        "",
    ]
    for check in reproduction.gradient_checks:
        lines.append(f"- {check['network']}, {check['batches']} mini-batches of "
                     f"{check['batch_size']} real training images, float64: max |difference| "
                     f"= {check['max_abs_difference']:.1e} (gradient entries up to "
                     f"{check['max_abs_gradient']:.2f}).")
    lines += [
        "",
        f"Command: `{reproduction.command or 'python scripts/reproduce.py'}` (engine "
        f"{s.engine}). Machine: {hardware}, device {m.get('device', '?')}, torch "
        f"{m.get('torch', '?')}, Python {m.get('python', '?')}. Total wall time "
        f"{_duration(reproduction.wall_seconds)}; started {reproduction.started}.",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The plot


COLORS = {"cross_entropy": "tab:blue", "quadratic": "tab:red", "softmax": "tab:green"}
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
    fig.suptitle(title + f"\nstalled: final accuracy > {100 * s.stall_margin:g} points below "
                 f"the configuration's best; late escape: below that line until epoch "
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


STALLED_STYLE = {"linewidth": 2.2, "linestyle": ":"}
LATE_STYLE = {"linewidth": 1.4, "linestyle": "--"}


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


# ---------------------------------------------------------------------------------------------
# Writing


def output_stem(settings: Settings) -> str:
    """``reproduction``, or ``reproduction-quick`` so a quick run never overwrites the real one."""
    return "reproduction-quick" if settings.quick else "reproduction"


def save(reproduction: Reproduction, out: Path) -> dict[str, Path]:
    """Write ``out/<stem>.md``, ``.json`` and ``.png`` atomically; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stem = output_stem(reproduction.settings)
    paths = {ext: out / f"{stem}.{ext}" for ext in ("md", "json", "png")}
    fig = plot(reproduction)
    try:
        write_atomically(paths["png"], lambda f: fig.savefig(f, format="png", dpi=110))
    finally:
        plt.close(fig)
    write_json(paths["json"], reproduction.to_dict())
    md = markdown(reproduction, paths["png"].name).encode()
    write_atomically(paths["md"], lambda f: f.write(md))
    return paths
