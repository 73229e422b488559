"""Statistics over runs: the spread of test accuracy over seeds, read three ways: ``final``, at
the last epoch (what training delivers); ``best``, the best epoch on the test set (the
textbook's reading, which flatters by choosing on the data it reports on); ``validated``, at the
first epoch with the best validation accuracy (chosen without looking at the test set).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .records import EpochRecord

History = Sequence[EpochRecord]


@dataclass(frozen=True)
class Spread:
    """Mean, sample standard deviation, minimum and maximum of n values."""

    mean: float
    std: float
    min: float
    max: float
    n: int

    def percent(self) -> str:
        """``95.49 ± 0.21 % (95.10–95.80, n = 10)`` for fractions in [0, 1]; ``94.40 % (n = 1)``
        for one value, which has no spread."""
        if self.n == 1:
            return f"{100 * self.mean:.2f} % (n = 1)"
        return (f"{100 * self.mean:.2f} ± {100 * self.std:.2f} % "
                f"({100 * self.min:.2f}–{100 * self.max:.2f}, n = {self.n})")

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies within [min, max]."""
        return self.min <= value <= self.max


def spread(values: Iterable[float]) -> Spread:
    """The ``Spread`` of ``values`` (standard deviation with n − 1; 0 for a single value)."""
    values = list(values)
    if not values:
        raise ValueError("spread of no values")
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return Spread(statistics.fmean(values), std, min(values), max(values), len(values))


def diverged(history: History) -> bool:
    """Whether the training loss became NaN or infinite at some epoch."""
    return any(record.diverged for record in history)


def final_accuracy(history: History) -> float:
    """Test accuracy at the last epoch."""
    return history[-1].test_accuracy


def best_accuracy(history: History) -> float:
    """Best test accuracy over the epochs (the textbook's reading)."""
    return max(record.test_accuracy for record in history)


def validated_epoch(history: History) -> EpochRecord:
    """The record of the first epoch with the best validation accuracy."""
    return max(history, key=_validation_accuracy)


def _validation_accuracy(record: EpochRecord) -> float:
    """The record's validation accuracy; a ValueError for a run without a validation set."""
    if record.validation_accuracy is None:
        raise ValueError("these runs have no validation set (validation_size=0)")
    return record.validation_accuracy


def validated_accuracy(history: History) -> float:
    """Test accuracy at the epoch chosen by validation accuracy (the honest reading)."""
    return validated_epoch(history).test_accuracy


def summarize(histories: Sequence[History]) -> dict[str, Spread | int]:
    """Spreads of final, best and (with validation) validated test accuracy over runs; a
    diverged run is left out of them, counted under ``"diverged"``."""
    kept = [h for h in histories if not diverged(h)]
    summary: dict[str, Spread | int] = {"runs": len(histories),
                                        "diverged": len(histories) - len(kept)}
    if kept:
        summary["final"] = spread(final_accuracy(h) for h in kept)
        summary["best"] = spread(best_accuracy(h) for h in kept)
        if kept[0][0].validation_accuracy is not None:
            summary["validated"] = spread(validated_accuracy(h) for h in kept)
    return summary
