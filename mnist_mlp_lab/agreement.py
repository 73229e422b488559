"""Do the fast engine and the reference loop learn the same? Two reproductions, compared.

Seed s gives a network the same initial weights and the same mini-batch order in both; the
engine's arithmetic is the reference loop's up to floating-point rounding (tests: equal weights
after an epoch, 1e-10 relative in float64). Thirty epochs of SGD amplify those roundings, so a
seed's two final accuracies differ a little; what must agree is the distribution over seeds.
For each configuration run by both (``scripts/reproduce.py --engine fast`` and ``--engine
reference``) this puts side by side: the spread of the final test accuracy under each engine,
and the paired differences seed by seed, at the first epoch (before rounding has had time to
grow) and at the last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mnist_mlp.errors import UserError
from mnist_mlp.training import Spread, final_accuracy, spread

from .results import ConfigurationResult, Reproduction
from .significance import t_bound


@dataclass(frozen=True)
class EngineComparison:
    """One configuration, trained with the same seeds by both engines."""

    name: str
    fast: Spread  # final test accuracy over seeds, fast engine
    reference: Spread  # the same, reference loop
    difference: Spread  # final accuracy, fast − reference, seed by seed
    first_epoch_difference: float  # largest |fast − reference| of the first epoch's accuracy

    @property
    def standard_error(self) -> float:
        """Standard error of the mean paired difference."""
        return self.difference.std / math.sqrt(self.difference.n)

    @property
    def t(self) -> float:
        """The mean paired difference in standard errors (∞ where they are all equal, not 0)."""
        mean, se = self.difference.mean, self.standard_error
        return mean / se if se > 0 else (0.0 if mean == 0 else math.copysign(math.inf, mean))

    @property
    def bound(self) -> float:
        """Student's t at ``LEVEL`` (two-sided) for the n − 1 degrees of freedom of n paired
        differences: the paired t-test's bound (NaN for a single seed)."""
        return t_bound(self.difference.n - 1) if self.difference.n > 1 else math.nan

    @property
    def agree(self) -> bool:
        """Whether the mean difference lies within ``bound`` standard errors of 0: the paired
        t-test finds no difference (one seed agrees only where the two accuracies are equal)."""
        return self.t == 0 or abs(self.t) <= self.bound


def compare(fast: Reproduction, reference: Reproduction) -> list[EngineComparison]:
    """The configurations found in both reproductions, over the seeds they share."""
    theirs = {r.configuration.name: r for r in reference.results}
    return [_compare(ours, theirs[ours.configuration.name]) for ours in fast.results
            if ours.configuration.name in theirs]


def _compare(fast: ConfigurationResult, reference: ConfigurationResult) -> EngineComparison:
    ours = {run.seed: run.history for run in fast.runs}
    pairs = [(ours[run.seed], run.history) for run in reference.runs if run.seed in ours]
    if not pairs:
        raise UserError(f"{fast.configuration.name}: the two reproductions share no seed")
    return EngineComparison(
        name=fast.configuration.name,
        fast=spread(final_accuracy(a) for a, _ in pairs),
        reference=spread(final_accuracy(b) for _, b in pairs),
        difference=spread(final_accuracy(a) - final_accuracy(b) for a, b in pairs),
        first_epoch_difference=max(abs(a[0].test_accuracy - b[0].test_accuracy)
                                   for a, b in pairs))


def markdown(comparisons: list[EngineComparison]) -> str:
    """A table: the final test accuracy under each engine, and their paired differences."""
    lines = ["| configuration | seeds | fast engine, final test accuracy | reference loop, final "
             "test accuracy | fast − reference, seed by seed: mean ± s.e., t = mean/s.e., "
             "the paired t-test's 95 % bound on \\|t\\| (min to max) | "
             "largest \\|difference\\| at epoch 1 | agree (\\|t\\| within the bound) |",
             "|---|---:|---:|---:|---:|---:|:---:|"]
    for c in comparisons:
        d = c.difference
        lines.append(f"| `{c.name}` | {d.n} | {c.fast.percent()} | {c.reference.percent()} "
                     f"| {100 * d.mean:+.2f} ± {100 * c.standard_error:.2f} points, "
                     f"t = {c.t:+.2f}, bound {_number(c.bound)} ({100 * d.min:+.2f} to "
                     f"{100 * d.max:+.2f}) "
                     f"| {100 * c.first_epoch_difference:.2f} points "
                     f"| {'yes' if c.agree else 'no'} |")
    return "\n".join(lines)


def _number(value: float) -> str:
    """``2.26``, or ``—`` where there is none (one seed: no bound)."""
    return f"{value:.2f}" if math.isfinite(value) else "—"
