"""How each verdict of ``claims.md`` is computed: one rule per statement that is measured or
shown wrong, a small function from the numbers to the verdict, its thresholds named here.

A rule returns one of the words below; the row (``claims_rows``) sets the numbers beside it.
``RULES`` holds each rule in one line of words, by statement id, for the report's legend: the
text and the function sit together, so that what the report says is what the code does.
Differences between two settings are judged over seeds (``difference``): a difference of means
counts when it exceeds ``T`` standard errors, Welch's t-test at 95 % (``significance``);
diverged networks never enter a mean and are counted apart, stalled ones stay in it.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from .significance import t_bound, welch_dof

HOLDS, FAILS, PARTLY, UNSEEN, UNMEASURED, ERRATUM = (
    "Holds", "Does not hold", "Partly", "Not seen here", "Not measured", "Erratum")

T = "t"
"""How the rules name the bound: a difference of means counts when it exceeds t standard
errors, t being Student's at 95 % (two-sided) for Welch's degrees of freedom."""
WORKS = 0.90
"""A setting trains when its networks' mean final test accuracy reaches this."""
BELOW = 0.05
"""A setting is well below another when its mean final test accuracy is this far under."""
PLATEAU_EPOCHS = 5
"""The training loss is on a plateau when it fell by less than ``PLATEAU_FALL`` of its value
over the last this many epochs (fewer where fewer were trained)."""
PLATEAU_FALL = 0.01
SLIGHT = 0.005
"""A gap of mean final test accuracy up to half a point is slight (the chapter's is 0.07)."""
CONSIDERABLE = 0.05
"""An improvement is considerable when it removes this share of the errors (the chapter's
96.59 % → 96.82 % removes 6.7 %)."""
OUTLIER_RATIO = 2.0
"""The L2 fit's slope error must be this many times the L1 fit's."""
FIT_TOLERANCE = 1e-2
"""Each fit's slope within this of its loss's exact minimiser: gradient descent found it."""
INTEGRAL_TOLERANCE = 1e-4
SLOW_DELTA = 1e-2
"""The output error δ of a stuck output, as a share of the other wrong outputs' δ, below which
the stuck output barely learns."""
MISLEADING_ACCURACY, MISLEADING_SPECIFICITY = 0.85, 0.99
COST_RATIO = 2.0
"""A larger mini-batch costs more when an update takes this many times as long."""
EPOCH_SAME = 0.1
"""Two epochs whose times differ by at most this share cost the same: an epoch's time on a
shared machine varies by that much from run to run, so a smaller gap decides nothing."""

RULES: dict[str, str] = {}
"""Each rule in words, by statement id."""


def _pct(points: float) -> str:
    return f"{100 * points:g} points"


# --- comparing settings over seeds ----------------------------------------------------------------


def finite(values: Sequence[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]


@dataclass(frozen=True)
class Difference:
    """mean(a) − mean(b) of two groups of final test accuracies, its standard error and its
    degrees of freedom (Welch–Satterthwaite)."""

    value: float
    se: float
    dof: float = math.nan

    @property
    def measurable(self) -> bool:
        """Whether the difference exceeds Student's 95 % bound: |value| > t(dof) × se."""
        return math.isfinite(self.se) and abs(self.value) > t_bound(self.dof) * self.se

    def points(self) -> str:
        """``+0.15 ± 0.11 points`` (no standard error where a group has a single run)."""
        if not math.isfinite(self.se):
            return f"{100 * self.value:+.2f} points, one run against the others"
        return f"{100 * self.value:+.2f} ± {100 * self.se:.2f} points"


def difference(a: Sequence[float], b: Sequence[float]) -> Difference:
    """mean(a) − mean(b) over the finite values, with the standard error of a difference of
    means, √(s_a²/n_a + s_b²/n_b), and Welch's degrees of freedom (NaN where a group has fewer
    than two)."""
    a, b = finite(a), finite(b)
    if not a or not b:
        return Difference(math.nan, math.nan)
    value = statistics.fmean(a) - statistics.fmean(b)
    if len(a) < 2 or len(b) < 2:
        return Difference(value, math.nan)
    var_a, var_b = statistics.variance(a), statistics.variance(b)
    return Difference(value, math.sqrt(var_a / len(a) + var_b / len(b)),
                      welch_dof(var_a, len(a), var_b, len(b)))


def above(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether mean(a) exceeds mean(b) by more than ``T`` standard errors."""
    d = difference(a, b)
    return d.measurable and d.value > 0


def mean(values: Sequence[float]) -> float:
    kept = finite(values)
    return statistics.fmean(kept) if kept else math.nan


# --- the losses -----------------------------------------------------------------------------------


def outliers(l2_error: float, l1_error: float, worst_fit_gap: float) -> str:
    if worst_fit_gap > FIT_TOLERANCE:
        return UNMEASURED
    return HOLDS if l2_error > OUTLIER_RATIO * l1_error else FAILS


RULES["outliers"] = (
    f"{HOLDS} when the L2 fit's slope error is more than {OUTLIER_RATIO:g} times the L1 fit's; "
    f"{UNMEASURED} when a fit is more than {FIT_TOLERANCE:g} from its exact minimiser.")


def backward(max_difference: float) -> str:
    return HOLDS if max_difference <= INTEGRAL_TOLERANCE else FAILS


RULES["backward-engineering"] = (
    f"{HOLDS} when the integrated gradient and (35) differ by at most {INTEGRAL_TOLERANCE:g} for "
    f"every target (their constants matched at the first grid point).")


def preferable(a: Sequence[float], b: Sequence[float]) -> str:
    """Whether a setting, final accuracies ``a``, is preferable to another, ``b``."""
    d = difference(a, b)
    if not math.isfinite(d.value):
        return UNMEASURED
    if not d.measurable:
        return UNSEEN
    return HOLDS if d.value > 0 else FAILS


_PREFERABLE = (f"{HOLDS} when the mean final test accuracy of {{a}} exceeds that of {{b}} by more "
               f"than {T} standard errors of the difference; {FAILS} when it falls short by "
               f"as much; {UNSEEN} between.")
RULES["eq35-sigmoid-output"] = _PREFERABLE.format(a="sigmoid + (35)", b="softmax + (35)")
RULES["softmax-first-term"] = _PREFERABLE.format(a="softmax + first term",
                                                 b="sigmoid + first term")


def loss_choice(differences: Sequence[Difference]) -> str:
    """Whether any of the ``differences`` between two losses (same output, same l) is strong."""
    if not any(math.isfinite(d.value) for d in differences):
        return UNMEASURED
    strong = [d for d in differences if d.measurable and abs(d.value) > SLIGHT]
    return HOLDS if strong else UNSEEN


RULES["loss-choice"] = (
    f"{HOLDS} when, at one l, the cross-entropy's and the quadratic cost's mean final test "
    f"accuracies (sigmoid outputs, the reproduction) differ by more than {_pct(SLIGHT)} and "
    f"{T} standard errors; else {UNSEEN}.")


def slowdown_network(stalled: int, stuck_delta: float | None,
                     other_delta: float | None) -> str:
    if stalled == 0:
        return UNSEEN
    if stuck_delta is None or other_delta is None:
        return UNMEASURED
    return HOLDS if stuck_delta <= SLOW_DELTA * other_delta else FAILS


RULES["slowdown-network"] = (
    f"{HOLDS} when quadratic-cost runs stall and, where a stuck output is wrong, its output error "
    f"δ = (F − y)σ'(z) is at most {SLOW_DELTA:g} of the other wrong outputs' δ; {UNSEEN} "
    f"when none stalls.")


# --- the learning rate ----------------------------------------------------------------------------


def plateaued(losses: Sequence[float]) -> bool | None:
    """Whether a training-loss history fell by less than ``PLATEAU_FALL`` of its value over its
    last ``PLATEAU_EPOCHS`` epochs (None: one epoch, or a loss not finite)."""
    k = min(PLATEAU_EPOCHS, len(losses) - 1)
    if k < 1 or not all(map(math.isfinite, losses)) or losses[-1 - k] <= 0:
        return None
    return (losses[-1 - k] - losses[-1]) / losses[-1 - k] < PLATEAU_FALL


@dataclass(frozen=True)
class EtaReading:
    """The learning-rate rule's reading of the smallest and the largest η."""

    verdict: str
    small: str  # "stuck", "slow", "not below the best", "diverged", "unknown"
    large: str  # "diverged", "far below the best", "not below the best"


def eta(finals: Sequence[Sequence[float]], losses: Sequence[Sequence[Sequence[float]]]
        ) -> EtaReading:
    """From the final accuracies and training-loss histories of each η, smallest first."""
    best = max((mean(f) for f in finals if finite(f)), default=math.nan)
    if not math.isfinite(best):
        return EtaReading(UNMEASURED, "diverged", "diverged")
    small, large = _small_eta(finals[0], losses[0], best), _large_eta(finals[-1], best)
    halves = (small == "stuck") + (large != "not below the best")
    return EtaReading((UNSEEN, PARTLY, HOLDS)[halves], small, large)  # each half a "might"


def _small_eta(final: Sequence[float], losses: Sequence[Sequence[float]], best: float) -> str:
    if not finite(final):
        return "diverged"
    if mean(final) >= best - BELOW:
        return "not below the best"
    flat = [plateaued(h) for h in losses]
    if all(f is None for f in flat):
        return "unknown"
    return "stuck" if sum(f is True for f in flat) > len(flat) / 2 else "slow"


def _large_eta(final: Sequence[float], best: float) -> str:
    if len(finite(final)) < len(final) / 2:
        return "diverged"
    return "far below the best" if mean(final) < best - BELOW else "not below the best"


RULES["eta"] = (
    f"Each half on its own. Too small: the smallest η is stuck when its mean final test accuracy "
    f"is more than {_pct(BELOW)} below the best η's and the training loss of most of its networks "
    f"fell by less than {100 * PLATEAU_FALL:g} % over the last {PLATEAU_EPOCHS} epochs (a "
    f"plateau); below the best but still falling is slow, not stuck. Too large: the largest η "
    f"finds no minimum when most of its networks diverge or its mean is more than "
    f"{_pct(BELOW)} below the best η's. Each half says \"might\": what a sweep does not show is "
    f"not seen here, never refuted. {HOLDS}: both halves seen; {PARTLY}: one; {UNSEEN}: neither.")


# --- mini-batches ---------------------------------------------------------------------------------


def batch_better(finals: Sequence[Sequence[float]]) -> str:
    """From the final accuracies after a fixed number of updates, smallest m first."""
    d = difference(finals[-1], finals[0])
    if not math.isfinite(d.value):
        return UNMEASURED
    if d.measurable and d.value < 0:
        return FAILS
    if d.measurable:
        drop = any(above(a, b) for a, b in itertools.pairwise(finals))
        return PARTLY if drop else HOLDS
    return PARTLY if any(above(f, finals[0]) for f in finals[1:-1]) else UNSEEN


RULES["batch-better"] = (
    f"After the same number of updates: {HOLDS} when the largest m's mean final test accuracy "
    f"exceeds the smallest m's by more than {T} standard errors and no larger m falls that far "
    f"below the next smaller one; {PARTLY} when it rises only up to some m; {FAILS} when the "
    f"largest m is that far below the smallest; {UNSEEN} else.")


def batch_middle(finals: Sequence[Sequence[float]]) -> str:
    """From the final accuracies after a fixed number of epochs, smallest m first."""
    if len(finals) < 3:
        return UNMEASURED
    middle = max(finals[1:-1], key=mean)
    ends = max((finals[0], finals[-1]), key=mean)
    d = difference(middle, ends)
    if not math.isfinite(d.value):
        return UNMEASURED
    if not d.measurable:
        return UNSEEN
    return HOLDS if d.value > 0 else FAILS


RULES["batch-middle"] = (
    f"After the same number of epochs: {HOLDS} when the best m strictly between the smallest and "
    f"the largest beats the better of the two by more than {T} standard errors; {FAILS} when "
    f"an end beats every middle m so; {UNSEEN} between.")


def batch_cost(per_update: tuple[float, float], per_epoch: tuple[float, float]) -> str:
    """From the seconds per update and per epoch of the smallest and the largest m."""
    if not all(map(math.isfinite, per_update + per_epoch)):
        return UNMEASURED
    if per_update[1] < COST_RATIO * per_update[0]:
        return FAILS
    return PARTLY if per_epoch[1] < (1 - EPOCH_SAME) * per_epoch[0] else HOLDS


RULES["batch-cost"] = (
    f"{HOLDS} when an update of the largest m takes at least {COST_RATIO:g} times as long as one "
    f"of the smallest and its epoch is not cheaper by more than {EPOCH_SAME:.0%} (an epoch's "
    f"time varies that much from run to run); {PARTLY} when only the update costs more (its "
    f"epoch, of fewer updates, is cheaper by more); {FAILS} when the update does not.")


# --- the MNIST recipe -----------------------------------------------------------------------------


def trains(final: Sequence[float]) -> str:
    """Whether a setting trains: its final accuracies, NaN where a network diverged."""
    if not final:
        return UNMEASURED
    if not finite(final) or mean(final) < WORKS:
        return FAILS
    return HOLDS if len(finite(final)) == len(final) else PARTLY


RULES["hidden-10"] = (
    f"{HOLDS} when the smallest l of the sweep trains: its mean final test accuracy at least "
    f"{100 * WORKS:g} % and no network diverged; {PARTLY} when some diverged; {FAILS} below.")


def recipe(finals: Sequence[Sequence[float]]) -> str:
    """From the final accuracies of every setting of the recipe measured (NaN: diverged)."""
    verdicts = [trains(f) for f in finals if f]
    if not verdicts:
        return UNMEASURED
    if all(v == HOLDS for v in verdicts):
        return HOLDS
    return FAILS if all(v == FAILS for v in verdicts) else PARTLY


RULES["unseen-data"] = (
    f"{HOLDS} when the recipe's networks (the reproduction's l = 30 and 100), trained on the "
    f"training images, score a mean of at least {100 * WORKS:g} % on the 10,000 test images, "
    f"which they never saw, no network diverged; {PARTLY} when some diverged or one setting "
    f"falls short; {FAILS} when all do.")
RULES["recipe"] = (
    f"{HOLDS} when every setting of the recipe measured (the reproduction's l = 30 and 100, the "
    f"sweep's l) trains — mean final test accuracy at least {100 * WORKS:g} %, no network "
    f"diverged; {FAILS} when none does; {PARTLY} else, diverged networks counted.")


def sigmoid_hidden(sigmoid: Sequence[float], others: Sequence[Sequence[float]]) -> str:
    """Recommended: no other activation measurably better; usable: every other one trains."""
    if not finite(sigmoid) or not others:
        return UNMEASURED
    recommended = not any(above(other, sigmoid) for other in others)
    usable = all(trains(other) != FAILS for other in others)
    return (FAILS, PARTLY, HOLDS)[recommended + usable]


RULES["sigmoid-hidden"] = (
    f"Each half on its own. Recommended: no other activation's mean final test accuracy exceeds "
    f"the sigmoid's by more than {T} standard errors. Others usable: each trains (mean at least "
    f"{100 * WORKS:g} %). {HOLDS}: both; {PARTLY}: one; {FAILS}: neither.")


# --- the figures ----------------------------------------------------------------------------------


def within(figure: float, best: Sequence[float]) -> bool | None:
    """Whether a figure lies within [min, max] of the networks' best-epoch accuracies."""
    kept = finite(best)
    return None if not kept else min(kept) <= figure <= max(kept)


def figures(inside: Sequence[bool | None]) -> str:
    known = [i for i in inside if i is not None]
    if not known:
        return UNMEASURED
    return HOLDS if all(known) else PARTLY if any(known) else FAILS


RULES["figures"] = (
    f"{HOLDS} when each figure lies within [min, max] of its configuration's runs at the best "
    f"epoch (the chapter's reading); {PARTLY} when some do; {FAILS} when none does.")
RULES["quadratic-figures"] = (
    "The same, for the quadratic cost at the η the chapter states, 0.5; the row adds how they "
    "lie against Nielsen's runs at η = 3.0, which made them.")


def slightly_worse(better: Sequence[float], worse: Sequence[float]) -> str:
    """Whether ``worse`` is below ``better``, measurably, but by no more than ``SLIGHT``."""
    d = difference(better, worse)
    if not math.isfinite(d.value):
        return UNMEASURED
    if not d.measurable:
        return UNSEEN
    return HOLDS if 0 < d.value <= SLIGHT else FAILS


RULES["slightly-worse"] = (
    f"Over the seeds, stalled runs in the mean: {HOLDS} when the quadratic cost's mean final test "
    f"accuracy is below the cross-entropy's by more than {T} standard errors and by at most "
    f"{_pct(SLIGHT)}; {FAILS} when it is further below, or above, by that many standard errors; "
    f"{UNSEEN} when the difference is within them.")


def considerable(better: Sequence[float], worse: Sequence[float]) -> str:
    """Whether ``better`` improves on ``worse`` measurably, removing ``CONSIDERABLE`` of its
    errors."""
    d = difference(better, worse)
    if not math.isfinite(d.value):
        return UNMEASURED
    if not d.measurable:
        return UNSEEN
    return HOLDS if d.value > 0 and d.value / (1 - mean(worse)) >= CONSIDERABLE else FAILS


RULES["considerable"] = (
    f"Over the seeds, stalled runs in the mean: {HOLDS} when the cross-entropy's mean final test "
    f"accuracy exceeds the quadratic cost's by more than {T} standard errors and removes at "
    f"least {100 * CONSIDERABLE:g} % of its errors; {FAILS} when the gain is smaller or the "
    f"other way, by that many standard errors; {UNSEEN} within them.")


def unbalanced(accuracy: Sequence[float], specificity: Sequence[float],
               recall: Sequence[float]) -> str:
    """From the never-the-digit classifier's measures, one entry per digit."""
    if not accuracy:
        return UNMEASURED
    misleads = (min(accuracy) >= MISLEADING_ACCURACY and min(specificity) >= MISLEADING_SPECIFICITY
                and max(recall) == 0)
    return HOLDS if misleads else FAILS


RULES["unbalanced"] = (
    f"{HOLDS} when a classifier that never finds the digit (recall 0) still scores an accuracy of "
    f"at least {100 * MISLEADING_ACCURACY:g} % and a specificity of at least "
    f"{100 * MISLEADING_SPECIFICITY:g} % for every digit against the other nine.")


# --- the errata -----------------------------------------------------------------------------------


def erratum(shown: bool) -> str:
    """``ERRATUM`` where the check shows the chapter wrong, else ``HOLDS``."""
    return ERRATUM if shown else HOLDS


RIGHT, WRONG = 1e-12, 1e-2
"""float64: a line equals autograd within ``RIGHT``; it differs when off by more than ``WRONG``."""


def within_rounding(error: float) -> str:
    """``HOLDS`` where a float64 check of a formula agrees within ``RIGHT``, else ``FAILS``."""
    return HOLDS if error < RIGHT else FAILS


RULES |= {
    "eq35-nll": f"{HOLDS} when, for independent sigmoid outputs (the outputs between 0 and 1 "
                f"that (35) is written for), (35) is −ln of the likelihood of the targets and "
                f"that likelihood sums to 1 over the 2¹⁰ target vectors, both within {RIGHT:g}; "
                f"else {FAILS}. On a softmax output it is no likelihood: the row says by how "
                "much.",
    "softmax-bias-gradient": f"{ERRATUM} when the printed lines differ from autograd by more than "
                             f"{WRONG:g} and the corrected ones agree within {RIGHT:g}.",
    "softmax-weight-gradient": f"{HOLDS} when ∂L/∂W²_jk = Σᵢ [F_j(xᵢ) − y_ij] a¹_k(xᵢ), linear in "
                               f"the error, equals autograd within {RIGHT:g}; else {FAILS}.",
    "extremum": f"{ERRATUM} when gradient descent converges (|∇f| < {RIGHT:g}) to a point whose "
                "Hessian has eigenvalues of both signs.",
    "backprop-box": f"{ERRATUM} when the box's loop makes more Jacobian products than "
                    "backpropagation for the same rows.",
    "one-in-14": f"{ERRATUM} when 1 / (the share of errors removed) does not round to 14.",
    "recall-prose": f"{ERRATUM} when the sentence's reading, actual over identified positives, "
                    "differs from the formula on a confusion matrix.",
}
