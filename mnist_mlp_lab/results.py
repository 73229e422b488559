"""What the reproduction measured: each ``Run``, each ``ConfigurationResult``, the whole
``Reproduction``, as plain data (``to_dict``) and read back from ``reproduction.json``
(``load``), to render the report again without training."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from mnist_mlp.errors import UserError
from mnist_mlp.files import JSONFileError, read_json
from mnist_mlp.training import (
    EpochRecord,
    Spread,
    best_accuracy,
    diverged,
    final_accuracy,
    summarize,
    validated_accuracy,
    validated_epoch,
)

from .configurations import STALL_MARGIN, Configuration, Settings, train_images
from .evidence import (
    LOST_RECALL,
    SATURATION,
    STUCK_FRACTION,
    Evidence,
    GroupEvidence,
    group_evidence,
    stalled_flags,
)


class ReproductionFileError(UserError, ValueError):
    """A file read back as a ``reproduction.json`` that is not one."""


MAX_JSON_BYTES = 256 << 20
"""The largest results file read back (the full reproduction's JSON is about 1.6 MB)."""


def read_results(path: str | os.PathLike[str], fix: str, error: type[UserError]) -> Any:
    """The JSON value in ``path``, a results file the user gave, read within bounds by the
    library's ``read_json``; else ``error`` ending with ``fix``, one line: a path missing,
    unreadable, too long, a folder, a FIFO (refused unread, never waited on), or not JSON."""
    try:
        return read_json(path, MAX_JSON_BYTES)
    except JSONFileError as problem:
        raise error(f"cannot read {path}: {problem.problem}; {fix}") from None


READINGS = {"final": "final epoch", "best": "best epoch (textbook's reading)",
            "validated": "epoch chosen by validation"}


def reading(summary: dict[str, Spread | int], key: str) -> Spread | None:
    """The spread of the reading ``key`` (one of ``READINGS``) in a ``summarize`` of runs; None
    where it was not measured (no run kept, or no validation set)."""
    value = summary.get(key)
    return value if isinstance(value, Spread) else None



@dataclass
class Run:
    """One trained network of a configuration."""

    seed: int
    history: list[EpochRecord]
    metrics: dict[str, Any] | None = None
    evidence: Evidence | None = None
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
        return {key: None if textbook is None or (spread := reading(summary, key)) is None
                else spread.contains(textbook) for key in READINGS}

    def evidence(self) -> dict[str, GroupEvidence | None]:
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
                           "fractions of the test set. See mnist_mlp_lab/reproduce.py.",
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
    data = read_results(path, "give a reproduction.json that scripts/reproduce.py wrote",
                        ReproductionFileError)
    try:
        return from_dict(data)
    except (KeyError, TypeError, ValueError) as error:
        raise ReproductionFileError(f"{path} is not a reproduction.json: {error!r}") from None


def from_dict(data: dict[str, Any]) -> Reproduction:
    """The ``Reproduction`` of ``Reproduction.to_dict`` (raises ``KeyError``, ``TypeError`` or
    ``ValueError`` for anything else)."""
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
        mark_stalls(results[-1], settings.stall_margin)  # by today's rule, not the file's
    return Reproduction(settings, results, data["softmax_bias_gradient_check"],
                        data["machine"], data["command"], data["wall_seconds"],
                        data["started"])


def combine(parts: Sequence[Reproduction], wall_seconds: float) -> Reproduction:
    """The one reproduction of its shards ``parts`` (each a share of every configuration's
    seeds): the runs of each configuration in seed order, its time the longest shard's, its
    stalled runs marked against all of them (a stall is judged against the configuration's best
    run), the gradient checks found in any shard."""
    first = parts[0]
    results = []
    for k, result in enumerate(first.results):
        runs = sorted((run for part in parts for run in part.results[k].runs),
                      key=lambda run: run.seed)
        results.append(ConfigurationResult(result.configuration, runs,
                                           max(part.results[k].seconds for part in parts)))
        mark_stalls(results[-1], first.settings.stall_margin)
    checks = {check["network"]: check for part in parts for check in part.gradient_checks}
    return Reproduction(first.settings, results, list(checks.values()), first.machine,
                        first.command, wall_seconds, first.started)


def mark_stalls(result: ConfigurationResult, margin: float) -> None:
    """Mark the stalled runs of a configuration: far below its best run (``stalled_flags`` over
    all its runs), or with a digit lost — which no margin tells where every run lost one."""
    for run, far_below in zip(result.runs, stalled_flags([r.history for r in result.runs],
                                                         margin), strict=True):
        run.stalled = far_below or bool(run.lost_digits)


def _nan_for_none(record: dict[str, Any]) -> dict[str, Any]:
    """A history record with the None that strict JSON made of NaN turned back into NaN."""
    return {k: math.nan if v is None else v for k, v in record.items()}


def stall_rule(margin: float = STALL_MARGIN) -> str:
    return (f"a run is stalled when it has lost a digit (test recall below "
            f"{100 * LOST_RECALL:g} %), or when its final-epoch test accuracy is more than "
            f"{100 * margin:g} percentage points below the best final-epoch test accuracy "
            f"among the runs of its configuration")
