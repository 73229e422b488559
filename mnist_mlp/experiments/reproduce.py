"""The textbook's MNIST figures, reproduced with statistics: six configurations × N seeds.

Nielsen (*Neural Networks and Deep Learning*, ch. 1 and 3) reports one number per setup, the
best epoch of one run. Here each configuration is trained over N seeds (0 … N − 1) and its test
accuracy is read three ways (``mnist_mlp.experiments.stats``): at the final epoch, at the best
epoch on the test set (the textbook's reading) and at the epoch chosen by validation accuracy
(the honest reading). All configurations share the protocol: 784-l-10, sigmoid hidden layer,
weights and biases from N(0, 1) (``init="normal"``), mini-batches of 10, 30 epochs, trained on
the first 50,000 training images, validated on the last 10,000, tested on the 10,000 test
images. Seed s gives the same initial weights (for one l) and the same mini-batch order in every
configuration, so within one l only the output layer and the cost differ.

A run *stalls* when its final-epoch test accuracy is more than ``STALL_MARGIN`` (5 percentage
points) below the best final-epoch test accuracy of its configuration: healthy runs of one
configuration lie within about a point of each other, while an output neuron stuck at 0 costs
the ~10 % of test images of its digit. Stalled runs stay in every statistic and are counted;
``saturation_evidence`` measures why they stall (stuck output and hidden units, per-class recall,
the output error δ that would have to move them).

A stall is a plateau that a run may still leave: healthy runs that sat below the stall line
until a quarter of the epochs or later are reported as *late escapes*.

``reproduce(settings)`` trains and measures everything; ``load(path)`` reads a saved
``reproduction.json`` back, to render the report again without training. The report — tables,
plot, files — is ``mnist_mlp.experiments.report``; ``scripts/reproduce.py`` is the command line.
"""

from __future__ import annotations

import copy
import json
import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..data import DigitTensors, load_mnist
from ..errors import ConfigError, UserError
from ..textbook.losses import cross_entropy, get_loss, one_hot
from ..textbook.metrics import classification_report, confusion_matrix
from ..textbook.model import MLP, NUM_CLASSES
from ..training import EpochRecord, TrainConfig, TrainResult, resolve_device, train, train_many
from .machine import machine
from .stats import (
    Spread,
    best_accuracy,
    diverged,
    final_accuracy,
    summarize,
    validated_accuracy,
    validated_epoch,
)

STALL_MARGIN = 0.05
"""A run stalls when its final test accuracy is this far (5 points) below its configuration's
best final test accuracy."""
SATURATION = 0.01
"""An activation below 0.01 or above 0.99 is saturated: σ'(z) = σ(1 − σ) < 0.0099."""
STUCK_FRACTION = 0.99
"""A unit saturated on the same side for at least 99 % of the test images is stuck."""
LOST_RECALL = 0.05
"""A digit whose recall is below 5 % is lost: the network (almost) never recognises it."""
ENGINES = ("fast", "reference")
QUICK = {"seeds": 3, "epochs": 5, "train_size": 10_000}
"""``--quick``: 3 seeds, 5 epochs on the first 10,000 training images (about 20 s on 2 CPU
cores); validation and test sets stay whole."""


class ReproductionFileError(UserError, ValueError):
    """A file read back as a ``reproduction.json`` that is not one."""


READINGS = {"final": "final epoch", "best": "best epoch (textbook's reading)",
            "validated": "epoch chosen by validation"}


@dataclass(frozen=True)
class Configuration:
    """One of the textbook's setups: what differs between the rows of the table."""

    name: str
    hidden_size: int
    output_activation: str
    loss: str
    lr: float
    textbook: float | None
    """The textbook's test accuracy (a fraction), None where it gives none."""
    cost: str
    """The output layer and cost, in words."""

    def train_config(self, settings: Settings) -> TrainConfig:
        """The ``TrainConfig`` of this configuration under ``settings`` (seed 0)."""
        log_dir = str(Path(settings.log_dir) / self.name) if settings.log_dir else None
        return TrainConfig(hidden_size=self.hidden_size, activation="sigmoid",
                           output_activation=self.output_activation, loss=self.loss,
                           init="normal", lr=self.lr, batch_size=settings.batch_size,
                           epochs=settings.epochs, seed=0, device=settings.device,
                           data_dir=settings.data_dir, train_size=settings.train_size,
                           validation_size=settings.validation_size, log_dir=log_dir)


CONFIGURATIONS: tuple[Configuration, ...] = tuple(
    Configuration(f"l{hidden}-{kind}", hidden, output, loss, lr, textbook, cost)
    for hidden, figures in ((30, (0.9549, 0.9542)), (100, (0.9682, 0.9659)))
    for kind, output, loss, lr, textbook, cost in (
        ("cross_entropy", "sigmoid", "binary_cross_entropy", 0.5, figures[0],
         "sigmoid, cross-entropy"),
        ("quadratic", "sigmoid", "mse", 3.0, figures[1], "sigmoid, quadratic"),
        ("softmax", "softmax", "cross_entropy", 0.5, None, "softmax, log-likelihood"),
    )
)
"""Nielsen's figures: ch. 3 (cross-entropy, l = 30 and 100), ch. 1 (quadratic); the softmax
output with the log-likelihood cost is the variant ch. 3 recommends, without a figure."""
NAMES = tuple(c.name for c in CONFIGURATIONS)


def configuration(name: str) -> Configuration:
    """The configuration called ``name``; an unknown name is a ValueError listing the choices."""
    for c in CONFIGURATIONS:
        if c.name == name:
            return c
    raise ConfigError(f"unknown configuration {name!r}; choose from {', '.join(NAMES)}")


@dataclass(frozen=True)
class Settings:
    """How the reproduction is run. The defaults are the reference protocol."""

    seeds: int = 10
    epochs: int = 30
    train_size: int | None = None
    """The first N training images (None: all 60,000 − validation_size = 50,000)."""
    validation_size: int = 10_000
    batch_size: int = 10
    data_dir: str | None = None
    device: str = "auto"
    log_dir: str | None = "runs/reproduction"
    engine: str = "fast"
    only: tuple[str, ...] | None = None
    stall_margin: float = STALL_MARGIN
    quick: bool = False

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the first impossible setting."""
        for name in ("seeds", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.validation_size < 1:
            raise ConfigError("the reproduction needs a validation set (validation_size >= 1)")
        if self.engine not in ENGINES:
            raise ConfigError(f"unknown engine {self.engine!r}; choose one of "
                             f"{', '.join(ENGINES)}")
        if not 0 < self.stall_margin < 1:
            raise ConfigError(f"stall_margin must lie in (0, 1), got {self.stall_margin}")
        for name in self.only or ():
            configuration(name)

    def configurations(self) -> list[Configuration]:
        """The configurations to run, in the table's order."""
        return [c for c in CONFIGURATIONS if self.only is None or c.name in self.only]


def quick_settings(**overrides: Any) -> Settings:
    """``Settings`` of the quick version (``QUICK``), with ``overrides`` on top."""
    return Settings(**(QUICK | {"quick": True} | overrides))


# ---------------------------------------------------------------------------------------------
# Stalled runs


def stalled_flags(histories: Sequence[Sequence[dict[str, float]]],
                  margin: float = STALL_MARGIN) -> list[bool]:
    """Which runs of one configuration stalled: final test accuracy more than ``margin`` below
    the best final test accuracy among the configuration's non-diverged runs.

    Diverged runs (NaN or infinite loss) are never called stalled; they are counted apart.
    """
    finals = [None if diverged(h) else final_accuracy(h) for h in histories]
    kept = [f for f in finals if f is not None]
    if not kept:
        return [False] * len(histories)
    best = max(kept)
    return [f is not None and f < best - margin for f in finals]


@torch.no_grad()
def saturation_evidence(model: MLP, data: DigitTensors, loss: str,
                        threshold: float = SATURATION,
                        stuck_fraction: float = STUCK_FRACTION) -> dict[str, Any]:
    """Why a trained network is where it is, measured on ``data`` (the test set), in float64.

    * ``stuck_outputs``: output units saturated on the same side (F < 0.01, or F > 0.99) for at
      least 99 % of the images — stuck at 0 or 1 whatever the input; for each, on the images
      where it is wrong (|F − y| > ½), the mean |F − y| (what the cross-entropy's δ = F − y
      would be) and the mean |δ| of the network's own cost, δ = ∂ℓ/∂z (for the quadratic cost
      with a sigmoid output, (F − y)σ'(z));
    * ``stuck_hidden_fraction``: the same for hidden units; ``saturated_hidden_fraction``: the
      share of all hidden activations (image × unit) outside [0.01, 0.99];
    * ``recall`` per digit and ``never_predicted`` digits;
    * ``wrong_delta``: the mean |δ| over all wrong (image, output unit) pairs, of stuck units
      and of the other units.
    """
    model = copy.deepcopy(model).to(torch.float64).eval()
    device = next(model.parameters()).device
    x = data.images.to(device, torch.float64)
    labels = data.labels.to(device)
    a1 = model.hidden_activations(x)
    F = model.output_activation(model.output(a1))
    y = one_hot(labels, F)
    delta = model.output_activation.backward(F, get_loss(loss).grad(F, y))  # (BP1), per image

    def stuck(a: Tensor) -> tuple[Tensor, Tensor]:
        return ((a < threshold).to(torch.float64).mean(0) >= stuck_fraction,
                (a > 1 - threshold).to(torch.float64).mean(0) >= stuck_fraction)

    out0, out1 = stuck(F)
    hidden0, hidden1 = stuck(a1)
    error = F - y
    wrong = error.abs() > 0.5
    stuck_outputs = []
    for unit in (out0 | out1).nonzero().flatten().tolist():
        rows = wrong[:, unit]
        stuck_outputs.append({
            "unit": unit, "stuck_at": 0 if bool(out0[unit]) else 1,
            "wrong_images": int(rows.sum()),
            "mean_abs_error": _mean(error[rows, unit].abs()),
            "mean_abs_delta": _mean(delta[rows, unit].abs()),
        })
    stuck_mask = (out0 | out1).expand_as(wrong)
    predictions = F.argmax(dim=1)
    report = classification_report(confusion_matrix(predictions, labels))
    counts = torch.bincount(predictions, minlength=NUM_CLASSES)
    saturated = (a1 < threshold) | (a1 > 1 - threshold)
    return {
        "images": len(data),
        "accuracy": report.accuracy,
        "stuck_outputs": stuck_outputs,
        "stuck_hidden": int((hidden0 | hidden1).sum()),
        "stuck_hidden_fraction": float((hidden0 | hidden1).to(torch.float64).mean()),
        "saturated_hidden_fraction": float(saturated.to(torch.float64).mean()),
        "recall": [float(r) for r in report.recall.tolist()],
        "never_predicted": [d for d in range(NUM_CLASSES) if int(counts[d]) == 0],
        "wrong_delta": {
            "stuck": {"pairs": int((wrong & stuck_mask).sum()),
                      "mean_abs_delta": _mean(delta[wrong & stuck_mask].abs())},
            "other": {"pairs": int((wrong & ~stuck_mask).sum()),
                      "mean_abs_delta": _mean(delta[wrong & ~stuck_mask].abs())},
        },
    }


def _mean(values: Tensor) -> float | None:
    return float(values.mean()) if values.numel() else None


# ---------------------------------------------------------------------------------------------
# The softmax gradient check


def softmax_bias_gradient_check(images: Tensor, labels: Tensor, model: MLP | None = None, *,
                                batches: int = 5, batch_size: int = 10,
                                seed: int = 0) -> dict[str, Any]:
    """∂L/∂b² from autograd against Σ_i (F(x_i) − y_i), for softmax with cross-entropy.

    With a softmax output and the log-likelihood cost summed over a mini-batch
    (``cross_entropy(..., reduction="sum")``), the output error is δ² = F − y (Nielsen eq. 81–
    82), so the output-bias gradient is Σ_i (F(x_i) − y_i). Checked in float64 on ``batches``
    consecutive mini-batches of ``images`` (N, 784) and ``labels``, for ``model`` (a copy) or a
    freshly initialised l = 30 softmax network (N(0, 1), seeded with ``seed``). Returns the
    largest absolute difference, and the largest gradient entry for scale.
    """
    if model is None:
        torch.manual_seed(seed)
        model = MLP(30, "sigmoid", "softmax", "normal")
    if model.output_activation_name != "softmax":
        raise ValueError("the check is for a softmax output layer")
    if len(images) < batches * batch_size:
        raise ValueError(f"{batches} mini-batches of {batch_size} need {batches * batch_size} "
                         f"images, got {len(images)}")
    model = copy.deepcopy(model).to("cpu", torch.float64)
    worst = largest = 0.0
    for b in range(batches):
        x = images[b * batch_size:(b + 1) * batch_size].to("cpu", torch.float64)
        y = labels[b * batch_size:(b + 1) * batch_size].to("cpu")
        model.zero_grad(set_to_none=True)
        F = model(x)
        cross_entropy(F, y, reduction="sum").backward()
        expected = (F.detach() - one_hot(y, F)).sum(dim=0)
        worst = max(worst, float((model.output.bias.grad - expected).abs().max()))
        largest = max(largest, float(expected.abs().max()))
    return {"hidden_size": model.hidden_size, "batches": batches, "batch_size": batch_size,
            "dtype": "float64", "max_abs_difference": worst, "max_abs_gradient": largest}


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class Run:
    """One trained network of a configuration."""

    seed: int
    history: list[EpochRecord]
    metrics: dict[str, Any] | None = None
    evidence: dict[str, Any] | None = None
    run_dir: str | None = None
    stalled: bool = False

    @property
    def diverged(self) -> bool:
        return diverged(self.history)

    @property
    def lost_digits(self) -> list[int]:
        """Digits with test recall below ``LOST_RECALL``."""
        if self.evidence is None:
            return []
        return [d for d, r in enumerate(self.evidence["recall"]) if r < LOST_RECALL]

    def last_epoch_below(self, line: float) -> int:
        """The last epoch whose test accuracy lies below ``line`` (0 if none)."""
        return max((r.epoch for r in self.history if r.test_accuracy < line), default=0)

    def to_dict(self) -> dict[str, Any]:
        readings = {"final_accuracy": final_accuracy(self.history),
                    "best_accuracy": best_accuracy(self.history),
                    "best_epoch": max(self.history, key=lambda r: r.test_accuracy).epoch,
                    "validated_accuracy": validated_accuracy(self.history),
                    "validated_epoch": validated_epoch(self.history).epoch}
        return {"seed": self.seed, "stalled": self.stalled, "diverged": self.diverged,
                **readings, "lost_digits": self.lost_digits, "run_dir": self.run_dir,
                "evidence": self.evidence,
                "metrics": self.metrics, "history": [r.to_dict() for r in self.history]}


@dataclass
class ConfigurationResult:
    """The runs of one configuration and what they say."""

    configuration: Configuration
    runs: list[Run]
    seconds: float

    @property
    def healthy(self) -> list[Run]:
        return [r for r in self.runs if not r.stalled and not r.diverged]

    @property
    def stalled(self) -> list[Run]:
        return [r for r in self.runs if r.stalled]

    def stall_line(self, margin: float = STALL_MARGIN) -> float | None:
        """The best final test accuracy of the non-diverged runs, minus ``margin``."""
        finals = [final_accuracy(r.history) for r in self.runs if not r.diverged]
        return max(finals) - margin if finals else None

    def late_escapes(self, margin: float = STALL_MARGIN) -> list[tuple[Run, int]]:
        """Healthy runs that sat below the stall line until epoch E/4 or later, with that epoch.

        They were stalled by the rule for a long time, then escaped the plateau.
        """
        line = self.stall_line(margin)
        if line is None:
            return []
        late = max(2, len(self.runs[0].history) // 4)
        below = [(r, r.last_epoch_below(line)) for r in self.healthy]
        return [(r, epoch) for r, epoch in below if epoch >= late]

    def summary(self, runs: Sequence[Run] | None = None) -> dict[str, Spread | int]:
        """``stats.summarize`` of ``runs`` (default: all runs, stalled ones included)."""
        return summarize([r.history for r in (self.runs if runs is None else runs)])

    def within(self, runs: Sequence[Run] | None = None) -> dict[str, bool | None]:
        """For each reading, whether the textbook figure lies within our [min, max]."""
        textbook, summary = self.configuration.textbook, self.summary(runs)
        return {key: None if textbook is None or key not in summary
                else summary[key].contains(textbook) for key in READINGS}

    def evidence(self) -> dict[str, dict[str, Any] | None]:
        """The stall evidence averaged over the healthy and over the stalled runs."""
        return {"healthy": group_evidence(self.healthy), "stalled": group_evidence(self.stalled)}

    def to_dict(self, margin: float = STALL_MARGIN) -> dict[str, Any]:
        def spreads(summary: dict[str, Spread | int]) -> dict[str, Any]:
            return {k: asdict(v) if isinstance(v, Spread) else v for k, v in summary.items()}

        line = self.stall_line(margin)
        runs = [r.to_dict() | {"last_epoch_below_stall_line": None if line is None
                               else r.last_epoch_below(line)} for r in self.runs]
        return {"configuration": asdict(self.configuration), "seconds": self.seconds,
                "stall_line": line, "stalled": len(self.stalled),
                "late_escapes": [{"seed": r.seed, "below_stall_line_until_epoch": epoch}
                                 for r, epoch in self.late_escapes(margin)],
                "diverged": sum(r.diverged for r in self.runs),
                "summary": spreads(self.summary()),
                "summary_without_stalled": spreads(self.summary(self.healthy))
                if self.healthy else None,
                "textbook_within_min_max": self.within(),
                "textbook_within_min_max_without_stalled": self.within(self.healthy)
                if self.healthy else None,
                "evidence": self.evidence(),
                "runs": runs}


def group_evidence(runs: Sequence[Run]) -> dict[str, Any] | None:
    """``saturation_evidence`` of several networks, summed up (None for no networks)."""
    runs = [r for r in runs if r.evidence is not None]
    if not runs:
        return None
    evidence = [r.evidence for r in runs]

    def pooled(group: str) -> float | None:
        pairs = sum(e["wrong_delta"][group]["pairs"] for e in evidence)
        if not pairs:
            return None
        return sum(e["wrong_delta"][group]["pairs"] * e["wrong_delta"][group]["mean_abs_delta"]
                   for e in evidence if e["wrong_delta"][group]["pairs"]) / pairs

    stuck_units = [u for e in evidence for u in e["stuck_outputs"]]
    errors = [u["mean_abs_error"] for u in stuck_units if u["mean_abs_error"] is not None]
    return {
        "networks": len(runs),
        "seeds": [r.seed for r in runs],
        "final_accuracy": statistics.fmean(final_accuracy(r.history) for r in runs),
        "stuck_outputs_per_network": statistics.fmean(len(e["stuck_outputs"]) for e in evidence),
        "stuck_outputs": {"at_0": sum(u["stuck_at"] == 0 for u in stuck_units),
                          "at_1": sum(u["stuck_at"] == 1 for u in stuck_units)},
        "networks_with_stuck_output": sum(bool(e["stuck_outputs"]) for e in evidence),
        "networks_never_predicting_a_digit": sum(bool(e["never_predicted"]) for e in evidence),
        "never_predicted": sorted({d for e in evidence for d in e["never_predicted"]}),
        "lost_digits_per_network": statistics.fmean(len(r.lost_digits) for r in runs),
        "lost_digits": sorted({d for r in runs for d in r.lost_digits}),
        "stuck_outputs_are_the_lost_digits": sum(
            {u["unit"] for u in r.evidence["stuck_outputs"]} == set(r.lost_digits)
            for r in runs),
        "min_recall": statistics.fmean(min(e["recall"]) for e in evidence),
        "stuck_hidden_fraction": statistics.fmean(e["stuck_hidden_fraction"] for e in evidence),
        "saturated_hidden_fraction": statistics.fmean(e["saturated_hidden_fraction"]
                                                      for e in evidence),
        "stuck_output_error": statistics.fmean(errors) if errors else None,
        "wrong_delta_stuck": pooled("stuck"),
        "wrong_delta_other": pooled("other"),
    }


@dataclass
class Reproduction:
    """Everything ``reproduce`` measured."""

    settings: Settings
    results: list[ConfigurationResult]
    gradient_checks: list[dict[str, Any]] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=dict)
    command: str = ""
    wall_seconds: float = 0.0
    started: str = ""

    def to_dict(self) -> dict[str, Any]:
        s = self.settings
        return {
            "description": "Nielsen's MNIST figures reproduced over seeds; accuracies are "
                           "fractions of the test set. See mnist_mlp/reproduce.py.",
            "command": self.command, "started": self.started, "wall_seconds": self.wall_seconds,
            "machine": self.machine,
            "settings": asdict(s) | {"train_images": train_images(s)},
            "stall_rule": stall_rule(s.stall_margin),
            "saturation": {"threshold": SATURATION, "stuck_fraction": STUCK_FRACTION},
            "softmax_bias_gradient_check": self.gradient_checks,
            "lost_recall": LOST_RECALL,
            "configurations": [r.to_dict(s.stall_margin) for r in self.results],
        }


def load(path: str | os.PathLike[str]) -> Reproduction:
    """A ``Reproduction`` read back from its ``reproduction.json`` (to render it again)."""
    try:
        data = json.loads(Path(path).read_text())
        fields = {f for f in Settings.__dataclass_fields__}
        settings = Settings(**{k: v for k, v in data["settings"].items() if k in fields})
        if settings.only is not None:
            settings = replace(settings, only=tuple(settings.only))
        results = []
        for c in data["configurations"]:
            runs = [Run(r["seed"], [EpochRecord.from_dict(_nan_for_none(record))
                             for record in r["history"]],
                        r["metrics"], r["evidence"], r["run_dir"], r["stalled"])
                    for r in c["runs"]]
            results.append(ConfigurationResult(Configuration(**c["configuration"]), runs,
                                               c["seconds"]))
        return Reproduction(settings, results, data["softmax_bias_gradient_check"],
                            data["machine"], data["command"], data["wall_seconds"],
                            data["started"])
    except (KeyError, TypeError, ValueError) as error:
        raise ReproductionFileError(f"{path} is not a reproduction.json: {error!r}") from None


def _nan_for_none(record: dict[str, Any]) -> dict[str, Any]:
    """A history record with the None that strict JSON made of NaN turned back into NaN."""
    return {k: math.nan if v is None else v for k, v in record.items()}


def train_images(settings: Settings) -> int:
    """How many training images the runs use."""
    available = 60_000 - settings.validation_size
    return available if settings.train_size is None else min(settings.train_size, available)


def stall_rule(margin: float = STALL_MARGIN) -> str:
    return (f"a run is stalled when its final-epoch test accuracy is more than "
            f"{100 * margin:g} percentage points below the best final-epoch test accuracy "
            f"among the runs of its configuration")


# ---------------------------------------------------------------------------------------------
# Running it


Report = Callable[[str], None]


def run_configuration(conf: Configuration, settings: Settings, test: DigitTensors,
                      report: Report | None = None) -> tuple[ConfigurationResult, list[MLP]]:
    """Train ``settings.seeds`` networks of ``conf``; returns the result and the networks."""
    say = report or (lambda _: None)
    config = conf.train_config(settings)
    seeds = list(range(settings.seeds))
    start = time.perf_counter()
    if settings.engine == "fast":
        def on_epoch(epoch: int, records: list[EpochRecord]) -> None:
            accuracy = summarize_line([r.test_accuracy for r in records])
            say(f"{conf.name:18s} epoch {epoch:3d}/{settings.epochs}  test {accuracy}"
                f"  ({records[0].seconds:.1f} s)")

        results: list[TrainResult] = train_many(config, seeds, on_epoch=on_epoch)
    else:
        results = []
        for seed in seeds:
            results.append(train(replace(config, seed=seed)))
            say(f"{conf.name:18s} seed {seed}  final test "
                f"{100 * final_accuracy(results[-1].history):.2f} %")
    seconds = time.perf_counter() - start
    flags = stalled_flags([r.history for r in results], settings.stall_margin)
    runs = []
    for result, stalled in zip(results, flags, strict=True):
        run = Run(seed=result.config.seed, history=result.history, stalled=stalled,
                  metrics=result.metrics.to_dict() if result.metrics is not None else None,
                  run_dir=str(result.run_dir) if result.run_dir else None)
        if not run.diverged:
            run.evidence = saturation_evidence(result.model, test, conf.loss)
        runs.append(run)
    return ConfigurationResult(conf, runs, seconds), [r.model for r in results]


def summarize_line(values: Sequence[float]) -> str:
    """``95.12 ± 0.20 % (94.80–95.41)`` of accuracies given as fractions."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "—"
    std = statistics.stdev(finite) if len(finite) > 1 else 0.0
    return (f"{100 * statistics.fmean(finite):.2f} ± {100 * std:.2f} % "
            f"({100 * min(finite):.2f}–{100 * max(finite):.2f})")


def reproduce(settings: Settings, report: Report | None = None,
              command: str = "") -> Reproduction:
    """Train every configuration of ``settings`` over its seeds and measure the outcome.

    Loads the data first (so a missing data set fails at once), then trains configuration by
    configuration (``train_many`` with the fast engine, ``train`` seed by seed with the
    reference one), computes the stall evidence of every network and the softmax gradient
    check. ``report`` receives progress lines.
    """
    say = report or (lambda _: None)
    settings.validate()
    started = datetime.now().astimezone().isoformat(timespec="seconds")
    start = time.perf_counter()
    device = resolve_device(settings.device)
    data = load_mnist(settings.data_dir, train_size=settings.train_size,
                      validation_size=settings.validation_size)
    test = data.test.to(device)
    say(f"{len(settings.configurations())} configurations × {settings.seeds} seeds, "
        f"{settings.epochs} epochs, {len(data.train)} training images, engine "
        f"{settings.engine}, device {device}")
    results, trained_softmax = [], None
    for conf in settings.configurations():
        result, models = run_configuration(conf, settings, test, say)
        results.append(result)
        if conf.name == "l30-softmax" and not result.runs[0].diverged:
            trained_softmax = models[0]
        say(f"{conf.name}: final {summarize_line([final_accuracy(r.history) for r in result.runs])}"
            f", {len(result.stalled)} stalled  ({result.seconds:.0f} s)")

    checks = [{"network": "freshly initialised l = 30 softmax, seed 0"}
              | softmax_bias_gradient_check(data.train.images, data.train.labels)]
    if trained_softmax is not None:
        checks.append({"network": "trained l30-softmax, seed 0"}
                      | softmax_bias_gradient_check(data.train.images, data.train.labels,
                                                    trained_softmax))
    for check in checks:
        say(f"softmax bias gradient check ({check['network']}, {check['batches']} mini-batches "
            f"of {check['batch_size']} real training images, float64): "
            f"max |autograd − Σ(F − y)| = {check['max_abs_difference']:.2e} "
            f"(gradients up to {check['max_abs_gradient']:.2f})")
    return Reproduction(settings, results, checks, machine(device), command,
                        time.perf_counter() - start, started)
