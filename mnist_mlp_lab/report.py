"""The reproduction's report: the Markdown tables and paragraphs, the files.

``mnist_mlp_lab.reproduce`` measures; this module shows what it measured.
``save(reproduction, out)`` writes ``reproduction.md`` (``markdown``: the table and what the
stalls show), ``reproduction.json`` (everything) and ``reproduction.png`` (``plot``, from
``reproduction_plot``: test accuracy against epoch), atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from mnist_mlp.files import write_atomically, write_json
from mnist_mlp.training import Spread, final_accuracy

from .configurations import (
    NIELSEN_QUADRATIC_ETA,
    Settings,
    is_chapter_recipe,
    is_quadratic_at_stated_eta,
    train_images,
)
from .evidence import LOST_RECALL, SATURATION, STUCK_FRACTION, GroupEvidence
from .reproduction_plot import plot
from .results import READINGS, ConfigurationResult, Reproduction, Run, reading, stall_rule

__all__ = ["markdown", "plot", "save", "table"]

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
            + " | ".join(_cell(reading(summary, key)) for key in READINGS)
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
            f"~10 % of test images of its digit; the lost digit tells a configuration whose "
            f"every run lost one, which no margin can). Stalled runs are included in the table "
            f"above and drawn apart from the bands of the plot. "]
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


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}{'s' * (n != 1)}"


def stuck_outputs_sentence(ev: GroupEvidence) -> str:
    """How many output units the stalled networks have stuck, and what their digits are to the
    network: never predicted, predicted but lost (recall < 5 %), or still recognised."""
    fewest, most = ev["stuck_outputs_range"]
    each = str(fewest) if fewest == most else f"{fewest} to {most}"
    total = ev["stuck_outputs"]["at_0"] + ev["stuck_outputs"]["at_1"]
    network = "the stalled network has" if ev["networks"] == 1 else \
        f"each of the {ev['networks']} stalled networks has"
    kinds = [f"{ev['stuck_never_predicted']} the network never predicts",
             f"{ev['stuck_lost_but_predicted']} it predicts now and then but recognises on "
             f"fewer than {100 * LOST_RECALL:g} % of their test images"]
    if ev["stuck_recognised"]:
        kinds.append(f"{ev['stuck_recognised']} it still recognises")
    return (f"{network} {each} output neuron{'s' * (most != 1)} stuck ({total} in all, "
            f"{ev['stuck_outputs']['at_0']} at 0 and {ev['stuck_outputs']['at_1']} at 1: "
            f"σ < {SATURATION:g} or > {1 - SATURATION:g} on ≥ {100 * STUCK_FRACTION:g} % of the "
            f"test images); of their digits, {', '.join(kinds[:-1])} and {kinds[-1]}")


def _stall_evidence_sentence(r: ConfigurationResult) -> str:
    ev, ok = r.evidence()["stalled"], r.evidence()["healthy"]
    name = r.configuration.name
    if ev is None:
        return ""
    lost = (f"; digits {', '.join(map(str, ev['lost_digits']))} across the networks"
            if ev["lost_digits"] else "")
    sentence = (
        f"Why they stall, measured on the trained `{name}` networks and the test set: "
        f"{stuck_outputs_sentence(ev)}; "
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
                         "learning slowdown the chapter shows for one neuron; the "
                         "cross-entropy's δ = F − y would be "
                         f"{ev['stuck_output_error']:.2f}. ")
        else:
            sentence += ". "
    if r.healthy:
        healthy, within = r.summary(r.healthy), r.within(r.healthy)
        sentence += (f"Without its stalled runs `{name}` reads {_cell(reading(healthy, 'best'))}"
                     f" % at the best epoch and {_cell(reading(healthy, 'final'))} % at the "
                     "final one")
        if r.configuration.textbook is not None:
            sentence += (f" (textbook {100 * r.configuration.textbook:.2f} % within [min, max]: "
                         f"{' / '.join(_yes(within[key]) for key in READINGS)})")
        sentence += "."
    return sentence


def summary(reproduction: Reproduction) -> str:
    """``**In short.**``: the paragraph README quotes — the chapter's figures against the spreads,
    the stalls and why, and whose recipe each figure belongs to — every number from the runs."""
    results = reproduction.results
    quoted = [r for r in results if r.configuration.textbook is not None]
    text = ["**In short.**"]
    if quoted:
        within = sum(bool(r.within()["best"]) for r in quoted)
        gaps = _known([_gap(r, "best", r.healthy) for r in quoted if r.healthy])
        far = (f"at most {max(map(abs, gaps)):.2f} points from our mean (stalled runs left "
               "out)" if gaps else "where every run of theirs stalled")
        text.append(f"{'Every' if within == len(quoted) else f'{within} of {len(quoted)}'} "
                    f"figure{'s' * (within != len(quoted))} of the chapter "
                    f"lie{'s' * (within == len(quoted))} within our [min, max] at the best "
                    f"epoch (the chapter's reading), {far}.")
        clean = _known([_gap(r, "validated", r.runs) for r in quoted if not r.stalled])
        if clean:
            text.append(f"Read at the epoch chosen by validation, the configurations without "
                        f"stalls score {_points(clean)} the chapter's figures.")
    for r in (r for r in results if r.stalled):
        text.append(_stall_summary(r))
    text.append(_stated_eta_summary(results))
    text.append(_recipe_summary(results))
    return " ".join(t for t in text if t)


def _stated_eta_summary(results: list[ConfigurationResult]) -> str:
    """The quadratic cost at the η the chapter states for it (0.5), against its figures, which
    Nielsen measured at η = 3.0."""
    stated = [r for r in results if is_quadratic_at_stated_eta(r.configuration)]
    if not stated:
        return ""
    readings = "; ".join(
        f"`{r.configuration.name}` {_cell(reading(r.summary(), 'final'))} % at the final epoch, "
        f"{_cell(reading(r.summary(), 'best'))} % at the best ({len(r.stalled)} of {len(r.runs)} "
        f"stalled{_diverged(r)})" for r in stated)
    return (f"At the η the chapter states for both costs, {stated[0].configuration.lr:g}, the "
            f"quadratic cost scores {readings}; the chapter's quadratic figures were measured at "
            f"Nielsen's η = {NIELSEN_QUADRATIC_ETA:.1f}.")


def _diverged(r: ConfigurationResult) -> str:
    n = sum(run.diverged for run in r.runs)
    return f", {n} diverged" if n else ""


def _gap(r: ConfigurationResult, key: str, runs: Sequence[Run]) -> float | None:
    """Our mean reading ``key`` over ``runs`` minus the textbook figure, in points (None where
    either is missing)."""
    spread, figure = reading(r.summary(runs), key), r.configuration.textbook
    return None if spread is None or figure is None else 100 * (spread.mean - figure)


def _known(gaps: list[float | None]) -> list[float]:
    return [gap for gap in gaps if gap is not None]


def _points(gaps: list[float]) -> str:
    low, high = min(gaps), max(gaps)
    if high < 0:
        return f"{-high:.1f}–{-low:.1f} points below"
    return f"from {low:+.2f} to {high:+.2f} points against"


def _stall_summary(r: ConfigurationResult) -> str:
    ev, name = r.evidence()["stalled"], r.configuration.name
    if ev is None:
        return ""
    text = (f"{len(r.stalled)} of the {len(r.runs)} `{name}` runs stall: "
            f"{stuck_outputs_sentence(ev)}")
    if ev["wrong_delta_stuck"] is not None:
        text += (f"; where a stuck output is wrong, |F − y| averages "
                 f"{ev['stuck_output_error']:.2f} but the output error δ = ∂C/∂z averages "
                 f"{ev['wrong_delta_stuck']:.0e}")
        if r.configuration.loss == "mse":
            text += " — the quadratic cost's learning slowdown, in a whole network"
    text += "."
    if r.healthy:
        best = _cell(reading(r.summary(r.healthy), "best"))
        text += (f" Without them `{name}` reads {best} % at the best epoch "
                 f"({_count(len(r.healthy), 'run')}).")
    return text


def _recipe_summary(results: list[ConfigurationResult]) -> str:
    recipe = [r for r in results if is_chapter_recipe(r.configuration)]
    if not recipe:
        return ""
    readings = "; ".join(
        f"`{r.configuration.name}` {_cell(reading(r.summary(), 'final'))} % at the final epoch, "
        f"{_cell(reading(r.summary(), 'best'))} % at the best" for r in recipe)
    return (f"The chapter's own recipe, a softmax output with the cross-entropy (35), η = "
            f"{recipe[0].configuration.lr:g}, scores {readings}. The four figures the chapter "
            f"quotes beside it were made with sigmoid outputs (Nielsen's runs), the rows that "
            f"hold them.")


def markdown(reproduction: Reproduction, png_name: str = "reproduction.png") -> str:
    """``reproduction.md``: the table, the stalled runs, the gradient check, how it was run."""
    s = reproduction.settings
    lines = ["# The textbook's MNIST figures, reproduced over seeds", ""]
    if s.quick:
        lines += ["> **Quick run** — a smoke test, not the reference protocol: "
                  f"{s.seeds} seeds, {s.epochs} epochs, {train_images(s):,} training images.",
                  ""]
    lines += [
        _protocol(s, _training_set_every_epoch(reproduction)), "",
        table(reproduction), "",
        summary(reproduction), "",
        stall_paragraph(reproduction), "",
        evidence_table(reproduction), "",
        "Stuck unit: σ < 0.01 on ≥ 99 % of the test images (stuck at 0) or > 0.99 (stuck at 1). "
        "Lost digit: test recall below 5 %. Saturated hidden activations: share of (test image, "
        "hidden unit) pairs outside [0.01, 0.99]. δ = ∂C/∂z of the output layer, averaged over "
        "the (image, output unit) pairs where |F − y| > ½.",
        "",
        f"![test accuracy against epoch]({png_name})",
        "",
        *_gradient_checks(reproduction),
        "",
        _how_it_was_run(reproduction),
        "",
    ]
    return "\n".join(lines)


def _training_set_every_epoch(reproduction: Reproduction) -> bool:
    """Whether the runs' records hold the training set's loss after every epoch (runs made
    before ``TrainConfig.evaluate_train_every`` did), not after the last one only."""
    return all(record.train_loss is not None for result in reproduction.results
               for run in result.runs for record in run.history)


def _protocol(s: Settings, training_set_every_epoch: bool) -> str:
    n_seeds = f"seeds 0–{s.seeds - 1}" if s.seeds > 1 else "seed 0"
    evaluated = ("every split evaluated after every epoch" if training_set_every_epoch else
                 "validation and test sets evaluated after every epoch, the training set after "
                 "the last one")
    return (
        f"784-l-10 network, sigmoid hidden layer, weights and biases from N(0, 1), mini-batches "
        f"of {s.batch_size}, {s.epochs} epochs of plain SGD, trained on the first "
        f"{train_images(s):,} training images, validated on the last {s.validation_size:,}, "
        f"tested on the 10,000 test images ({evaluated}); {s.seeds} runs per configuration "
        f"({n_seeds}; seed "
        f"s gives the same initial weights and mini-batch order in every configuration of one "
        f"l). Test accuracy in %, mean ± std (min–max) over all runs, stalled runs included. "
        f"*Best epoch* is the best of the {s.epochs} epochs on the test set itself — how the "
        f"textbook's figures are read; *epoch chosen by validation* is the test accuracy at the "
        f"epoch with the best validation accuracy — the honest figure.")


def _gradient_checks(reproduction: Reproduction) -> list[str]:
    lines = ["**Softmax gradient check.** For a softmax output with the log-likelihood cost "
             "summed over a mini-batch, the output-bias gradient from autograd equals "
             "Σᵢ (F(xᵢ) − yᵢ) (Nielsen eq. 81–82; the chapter's softmax gradient, corrected — "
             "see tests/lab/test_errata.py):", ""]
    for check in reproduction.gradient_checks:
        lines.append(f"- {check['network']}, {check['batches']} mini-batches of "
                     f"{check['batch_size']} real training images, float64: max |difference| "
                     f"= {check['max_abs_difference']:.1e} (gradient entries up to "
                     f"{check['max_abs_gradient']:.2f}).")
    return lines


def _how_it_was_run(reproduction: Reproduction) -> str:
    s, m = reproduction.settings, reproduction.machine
    hardware = (f"{m.get('cpu', '?')} ({m.get('cores', '?')} cores, "
                f"{m.get('torch_threads', '?')} torch threads)")
    if "gpu" in m:
        hardware += f", GPU {m['gpu']}"
    return (f"Command: `{reproduction.command or 'python scripts/reproduce.py'}` (engine "
            f"{s.engine}). Machine: {hardware}, device {m.get('device', '?')}, torch "
            f"{m.get('torch', '?')}, Python {m.get('python', '?')}. Total wall time "
            f"{_duration(reproduction.wall_seconds)}; started {reproduction.started}.")


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
