"""The rows of ``claims.md``: one per statement of the chapter, in the chapter's order — the
statement in our words, where the code is, the test, the figure, and the verdict, which is
written from the measurements wherever there are some."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from .claims import Claims
from .sweeps import Point


@dataclass(frozen=True)
class Row:
    statement: str
    code: str
    test: str
    figure: str
    verdict: str


def _pct(x: float) -> str:
    return "—" if not math.isfinite(x) else f"{100 * x:.2f} %"


def _mean(points: list[Point], value: float) -> Point:
    return next(p for p in points if p.value == value)


def _outcome(p: Point) -> str:
    """``95.12 %`` or ``diverged (5 of 5)`` or ``93.1 % (2 of 5 diverged)``."""
    n = len(p.final)
    if not p.kept:
        return f"diverged ({p.diverged} of {n})"
    return _pct(p.mean) + (f" ({p.diverged} of {n} diverged)" if p.diverged else "")


def learning_rate(c: Claims) -> str:
    points = c.learning_rate
    best = max((p for p in points if p.kept), key=lambda p: p.mean)
    low, high = points[0], points[-1]
    lowest_ok = low.kept and low.mean < best.mean - 0.05
    highest_ok = not high.kept or high.mean < best.mean - 0.05
    verdict = "Holds" if lowest_ok and highest_ok else "Not seen here"
    return (f"{verdict}: after {c.settings.epochs} epochs η = {best.value:g} does best "
            f"({_pct(best.mean)}); η = {low.value:g} reaches {_outcome(low)}, {_trend(low)}; "
            f"η = {high.value:g}: {_outcome(high)}, {_trend(high)}.")


def _trend(p: Point) -> str:
    falling = p.still_descending()
    if falling is None:
        return "its training loss unknown (one epoch)" if p.kept else "its loss not finite"
    return ("its training loss still falling in the last epoch (slow rather than stuck)"
            if falling else "its training loss no longer falling")


def hidden_size(c: Claims) -> str:
    points = c.hidden_size
    first, last = points[0], points[-1]
    ordered = [p.mean for p in points if p.kept]
    rising = all(b >= a for a, b in itertools.pairwise(ordered))
    return (f"Holds: l = {first.value:g} already reaches {_outcome(first)}; "
            f"l = {last.value:g} {_outcome(last)} "
            f"({'rising' if rising else 'not monotone'} in l).")


def batches_better(c: Claims) -> str:
    by_updates, by_epochs = c.batch_size.updates, c.batch_size.epochs
    first, last = by_updates[0], by_updates[-1]
    kept = [p for p in by_updates if p.kept]
    best = max(kept, key=lambda p: p.mean) if kept else last
    rising = all(b.mean >= a.mean for a, b in itertools.pairwise(kept))
    verdict = ("Holds per update" if rising else
               f"Holds per update up to m = {best.value:g} ({_outcome(best)}), then levels off")
    turns = by_epochs[-1].mean < by_epochs[0].mean or not by_epochs[-1].kept
    return (f"{verdict}: after {c.batch_size.fixed_updates:,} updates m = {first.value:g} "
            f"reaches {_outcome(first)}, m = {last.value:g} {_outcome(last)}. Per epoch "
            f"{'it turns round' if turns else 'too'}: after {c.settings.epochs} epochs "
            f"m = {by_epochs[0].value:g} reaches "
            f"{_outcome(by_epochs[0])}, m = {by_epochs[-1].value:g} {_outcome(by_epochs[-1])} "
            f"(fewer updates).")


def batches_cost(c: Claims) -> str:
    points = [p for p in c.batch_size.epochs if math.isfinite(p.seconds_per_epoch)]
    if not points:
        return "Not measured (every network diverged)."
    first, last = points[0], points[-1]
    per_update = [p.seconds_per_epoch / p.updates_per_epoch for p in (first, last)]
    ratio = last.seconds_per_epoch / first.seconds_per_epoch
    epoch = (f"{1 / ratio:.1f}× cheaper" if ratio < 1 else f"{ratio:.1f}× dearer")
    return (f"Per update, yes: m = {last.value:g} costs {per_update[1] / per_update[0]:.0f}× "
            f"what m = {first.value:g} costs. Per epoch, no: an epoch of m = {last.value:g} "
            f"({last.updates_per_epoch:,} updates) is {epoch} than one of m = {first.value:g} "
            f"({first.updates_per_epoch:,} updates): {last.seconds_per_epoch:.3f} s against "
            f"{first.seconds_per_epoch:.3f} s per network (engine on this CPU, SGD only).")


def l1_l2(c: Claims) -> str:
    r = c.regression
    return (f"Holds: with 3 of {len(r.x)} points lifted, the L2 fit's slope is "
            f"{r.fits['L2'].slope:.2f}, the L1 fit's {r.fits['L1'].slope:.2f} (the points' "
            f"line: 2). Each agrees with its exact minimiser to "
            f"{max(abs(f.slope - f.exact_slope) for f in r.fits.values()):.0e} in the slope.")


def backward(c: Claims) -> str:
    worst = max(i.max_difference for i in c.integrals)
    ys = ", ".join(f"{i.y:g}" for i in c.integrals)
    low, high = c.integrals[0].F[0], c.integrals[0].F[-1]
    return (f"Holds: for y = {ys}, over F ∈ [{low:g}, {high:g}], the integral and (35) differ "
            f"by at most {worst:.0e} (the trapezoid rule's error), the constant being (35) at "
            f"F = {low:g}.")


def network_slowdown(c: Claims) -> str:
    link = c.reproduction
    if link is None or link.stuck_delta is None:
        return "Not measured here: run `scripts/reproduce.py` (reproduction.json)."
    return (f"Holds: {link.stalled} of {link.runs} `{link.stalled_configuration}` runs stall; "
            f"where a stuck output is wrong, \\|F − y\\| averages {link.stuck_error:.2f} but "
            f"δ = (F − y)σ'(z) averages {link.stuck_delta:.0e}, against "
            f"{link.other_delta:.0e} for the other wrong outputs.")


def figures(c: Claims) -> str:
    link = c.reproduction
    if link is None:
        return "Not measured here: run `scripts/reproduce.py`."
    return (f"{link.figures_within_best} of {link.figures} lie within our [min, max] over "
            f"{link.runs} seeds at the best epoch (the chapter's reading). All are sigmoid-output "
            f"runs, not the recipe's.")


def recipe(c: Claims) -> str:
    link, widest = c.reproduction, c.recipe_widest
    text = "The reproduction has not been run (`scripts/reproduce.py`)."
    if link is not None and link.recipe_final:
        scores = ", ".join(f"`{name}` {_pct(v)}" for name, v in link.recipe_final.items())
        text = f"Trains: mean final test accuracy {scores}; the chapter quotes no figure for it."
    return (text + f" At l = {widest.value:g} (N(0, 1) weights, float32), {widest.diverged} of "
            f"{len(widest.final)} networks diverged in their first epoch: the gradient of (35) "
            f"through a softmax carries 1/F, which overflows float32 for F below about 3e-39.")


def derivation(c: Claims, kind: str) -> str:
    check = c.derivation
    lines = check.bias if kind == "bias" else check.weight
    printed = max(v for k, v in lines.items() if "printed" in k)
    right = max(v for k, v in lines.items() if "corrected" in k)
    scale = check.bias_scale if kind == "bias" else check.weight_scale
    return (f"Erratum: on {check.batch_size} real training digits ({check.network}, float64) "
            f"the printed form is off by up to {printed:.2f} (entries up to {scale:.2f}); "
            f"Σᵢ[F_j(xᵢ) − y_ij]{' a¹_k(xᵢ)' if kind == 'weight' else ''} equals autograd to "
            f"{right:.0e}.")


def one_in(c: Claims) -> str:
    o = c.one_in
    return (f"Erratum: {_pct(o.quadratic)} → {_pct(o.cross_entropy)} removes "
            f"{100 * o.share:.2f} % of the errors, 1 in {o.one_in:.1f}.")


def unbalanced(c: Claims) -> str:
    acc = [r.measures["accuracy"] for r in c.unbalanced]
    spec = [r.measures["specificity"] for r in c.unbalanced]
    balanced = [r.measures["balanced accuracy"] for r in c.unbalanced]
    return (f"Holds: never predicting the digit scores {_pct(min(acc))}–{_pct(max(acc))} "
            f"accuracy and {_pct(min(spec))} specificity with recall 0; balanced accuracy "
            f"{_pct(min(balanced))} (now beside them in the printed report).")
