"""The verdicts of ``claims.md``, one function per measured or erratum row: the word its rule
(``claims_rules``) computes from the row's numbers, then the numbers."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import torch

from . import claims_rules as rule
from . import errata
from .claims import Claims, Reproduced
from .configurations import configuration
from .sweeps import Point, output_label

TESTED = "as written (tested)"


def _pct(x: float) -> str:
    return "—" if not math.isfinite(x) else f"{100 * x:.2f} %"


def _outcome(p: Point) -> str:
    """``95.12 %`` or ``diverged (5 of 5)`` or ``93.1 % (2 of 5 diverged)``."""
    n = len(p.final)
    if not p.kept:
        return f"diverged ({p.diverged} of {n})"
    return _pct(p.mean) + (f" ({p.diverged} of {n} diverged)" if p.diverged else "")


def _label(points: list[Point], label: str) -> Point | None:
    return next((p for p in points if p.label == label), None)


def _missing(*names: str) -> str:
    return (f"{rule.UNMEASURED}: the reproduction has no {', '.join(f'`{n}`' for n in names)} "
            f"(run `scripts/reproduce.py`).")


def _find(c: Claims, *names: str) -> list[Reproduced] | None:
    """The reproduction's configurations called ``names``; None if one is missing."""
    found = [c.reproduction.find(n) if c.reproduction else None for n in names]
    kept = [f for f in found if f is not None]
    return kept if len(kept) == len(names) else None


# --- the losses -----------------------------------------------------------------------------------


def loss_choice(c: Claims) -> str:
    parts, differences = [], []
    for size, eta in itertools.product((30, 100), ("", "_eta0.5")):
        pair = _find(c, f"l{size}-cross_entropy", f"l{size}-quadratic{eta}")
        if pair is None:
            continue
        differences.append(rule.difference(pair[0].final, pair[1].final))
        parts.append(f"l = {size}, quadratic at η = {pair[1].lr:g}: "
                     f"{differences[-1].points()} ({sum(pair[1].stalled)} of "
                     f"{len(pair[1].stalled)} stalled)")
    if not parts:
        return _missing("l30-cross_entropy", "l30-quadratic")
    return (f"{rule.loss_choice(differences)}: mean final test accuracy, cross-entropy minus "
            f"quadratic cost, sigmoid outputs — {'; '.join(parts)}.")


def mae(c: Claims) -> str:
    return (f"{TESTED}: reduction \"mean\"; its 1/(2m) gives {errata.l1_gradient_ratio():g} times "
            f"the gradient of the mean absolute error (Errata).")


def l1_l2(c: Claims) -> str:
    r = c.regression
    gap = max(abs(f.slope - f.exact_slope) for f in r.fits.values())
    return (f"{rule.outliers(r.slope_error('L2'), r.slope_error('L1'), gap)}: with 3 of "
            f"{len(r.x)} points lifted, the L2 fit's slope is {r.fits['L2'].slope:.2f}, the L1 "
            f"fit's {r.fits['L1'].slope:.2f} (the points' line: 2). Each agrees with its exact "
            f"minimiser to {gap:.0e} in the slope.")


def eq35_nll(c: Claims) -> str:
    check = errata.likelihood_check()
    verdict = rule.within_rounding(max(check.sigmoid_gap, abs(check.sigmoid_mass - 1)))
    return (f"{verdict}: on independent sigmoid outputs, which it is written for, (35) is −ln "
            f"of their likelihood to {check.sigmoid_gap:.0e}, which sums to "
            f"{check.sigmoid_mass:.6f}; not on a softmax output, one distribution over the "
            f"labels, whose likelihood's −ln is the first term alone: there (35) exceeds it by "
            f"{check.softmax_gap:.2f} or more in {check.samples} random draws, and e^(−(35)) sums "
            f"to at most {check.softmax_mass:.2f} over the labels.")


def _compare(points: list[Point], a: str, b: str, verdict: Callable[..., str]) -> str:
    first, second = _label(points, a), _label(points, b)
    if first is None or second is None:
        return f"{rule.UNMEASURED}: the output sweep has no {a} or no {b}."
    d = rule.difference(first.final, second.final)
    return (f"{verdict(first.final, second.final)}: {a} {_outcome(first)}, {b} "
            f"{_outcome(second)}, difference {d.points()}.")


def eq35_sigmoid_output(c: Claims) -> str:
    return _compare(c.output, output_label("sigmoid", "binary_cross_entropy"),
                    output_label("softmax", "binary_cross_entropy"), rule.preferable)


def softmax_first_term(c: Claims) -> str:
    return _compare(c.output, output_label("softmax", "log_likelihood"),
                    output_label("sigmoid", "log_likelihood"), rule.preferable)


def network_slowdown(c: Claims) -> str:
    link = c.reproduction
    if link is None:
        return _missing("l100-quadratic")
    word = rule.slowdown_network(link.stalled, link.stuck_delta, link.other_delta)
    if link.stuck_delta is None or link.other_delta is None or link.stuck_error is None:
        return f"{word}: {link.stalled} of {link.runs} `{link.stalled_configuration}` runs stall."
    return (f"{word}: {link.stalled} of {link.runs} `{link.stalled_configuration}` runs stall; "
            f"where a stuck output is wrong, \\|F − y\\| averages {link.stuck_error:.2f} but "
            f"δ = (F − y)σ'(z) averages {link.stuck_delta:.0e}, against "
            f"{link.other_delta:.0e} for the other wrong outputs.")


def backward(c: Claims) -> str:
    worst = max(i.max_difference for i in c.integrals)
    ys = ", ".join(f"{i.y:g}" for i in c.integrals)
    low, high = c.integrals[0].F[0], c.integrals[0].F[-1]
    from_37, from_36, own = errata.backward_engineering_readings(0.6, 0.9, 2.0, 0.0)
    return (f"{rule.backward(worst)}: for y = {ys}, over F ∈ [{low:g}, {high:g}], the integral "
            f"and (35) differ by at most {worst:.0e} (the trapezoid rule's error), the constant "
            f"being (35) at F = {low:g}. ∂L/∂F comes from (37): read off (36) it is x times "
            f"(F − y)/(F(1 − F)) ({from_36 / own:g} at x = 2; {from_37 / own:g} off (37)) — "
            f"Errata.")


def _largest(lines: dict[str, float], which: str) -> float:
    """The largest gap to autograd of the derivation's lines ``which`` ("printed", "corrected")."""
    return max(v for k, v in lines.items() if which in k)


def derivation(c: Claims) -> str:
    """The bias gradient's lines: as printed against corrected."""
    check = c.derivation
    printed, right = _largest(check.bias, "printed"), _largest(check.bias, "corrected")
    word = rule.erratum(printed > rule.WRONG and right < rule.RIGHT)
    return (f"{word}: on {check.batch_size} real training digits ({check.network}, float64) "
            f"the printed form is off by up to {printed:.2f} (entries up to "
            f"{check.bias_scale:.2f}); Σᵢ[F_j(xᵢ) − y_ij] equals autograd to {right:.0e}.")


def weight_linearity(c: Claims) -> str:
    """The weights' gradient, which the chapter says only is linear in the error too."""
    check = c.derivation
    right = _largest(check.weight, "corrected")
    return (f"{rule.within_rounding(right)}: on {check.batch_size} real training digits "
            f"({check.network}, float64) Σᵢ[F_j(xᵢ) − y_ij] a¹_k(xᵢ), linear in the error, "
            f"equals autograd to {right:.0e}.")


# --- training -------------------------------------------------------------------------------------


def learning_rate(c: Claims) -> str:
    points = c.learning_rate
    reading = rule.eta([p.final for p in points], [p.losses for p in points])
    kept = [p for p in points if p.kept]
    if not kept:
        return f"{reading.verdict}: every network diverged."
    best, low, high = max(kept, key=lambda p: p.mean), points[0], points[-1]
    small = {"stuck": "stuck (its training loss on a plateau)",
             "slow": "slow, not stuck (its training loss still falling)"}.get(reading.small,
                                                                             reading.small)
    large = {"not below the best": "finds a minimum as good"}.get(reading.large, reading.large)
    halves = (f"too small η: {_half(reading.small == 'stuck')}; too large η: "
              f"{_half(reading.large != 'not below the best')}")
    return (f"{reading.verdict} ({halves}): after {c.settings.epochs} epochs η = {best.value:g} "
            f"does best ({_pct(best.mean)}); the smallest, η = {low.value:g}, reaches "
            f"{_outcome(low)}: {small}; the largest, η = {high.value:g}, {_outcome(high)}: "
            f"{large}.")


def _half(seen: bool) -> str:
    """One half of a statement that says "might": seen, or not seen here (never refuted)."""
    return "holds" if seen else "not seen here"


def extremum(c: Claims) -> str:
    run = errata.saddle_descent()
    low, high = run.hessian_eigenvalues
    shown = run.gradient_norm < rule.RIGHT and low < 0 < high
    return (f"{rule.erratum(shown)}: on f = x² − y², descent from (1, 0) ends at "
            f"({run.end[0]:.0e}, {run.end[1]:.0e}) with \\|∇f\\| = {run.gradient_norm:.0e}, a "
            f"saddle point (Hessian eigenvalues {low:g} and {high:g}).")


def backprop_box(c: Claims) -> str:
    layers = 10
    box, backprop, gap = errata.box_against_backprop(layers)
    return (f"{rule.erratum(box > backprop and gap < rule.RIGHT)}: for n = {layers} layers the "
            f"box's loop makes {box} Jacobian products, backpropagation {backprop}, for the same "
            f"rows (to {gap:.0e}); and it writes θ⁽ⁿ⁾ for θ⁽ᵏ⁾.")


def _finals(points: Sequence[Point]) -> list[list[float]]:
    return [p.final for p in points]


def batch_middle(c: Claims) -> str:
    points = c.batch_size.epochs
    cells = ", ".join(f"m = {p.value:g} {_outcome(p)}" for p in points)
    return (f"{rule.batch_middle(_finals(points))}: after {c.settings.epochs} epochs, {cells} "
            f"(the largest m makes the fewest updates).")


def batches_better(c: Claims) -> str:
    by_updates = c.batch_size.updates
    cells = ", ".join(f"m = {p.value:g} {_outcome(p)}" for p in by_updates)
    return (f"{rule.batch_better(_finals(by_updates))}: after {c.batch_size.fixed_updates:,} "
            f"updates, {cells}.")


def batches_cost(c: Claims) -> str:
    points = [p for p in c.batch_size.epochs if math.isfinite(p.seconds_per_epoch)]
    if len(points) < 2:
        return f"{rule.UNMEASURED}: every network diverged."
    first, last = points[0], points[-1]
    per_update = (first.seconds_per_epoch / first.updates_per_epoch,
                  last.seconds_per_epoch / last.updates_per_epoch)
    word = rule.batch_cost(per_update, (first.seconds_per_epoch, last.seconds_per_epoch))
    ratio = last.seconds_per_epoch / first.seconds_per_epoch
    epoch = (f"as costly (within {rule.EPOCH_SAME:.0%}) as" if abs(ratio - 1) <= rule.EPOCH_SAME
             else f"{1 / ratio:.1f}× cheaper than" if ratio < 1 else f"{ratio:.1f}× dearer than")
    return (f"{word}: an update of m = {last.value:g} costs {per_update[1] / per_update[0]:.0f}× "
            f"one of m = {first.value:g}; an epoch of m = {last.value:g} "
            f"({last.updates_per_epoch:,} updates) is {epoch} one of m = {first.value:g} "
            f"({first.updates_per_epoch:,} updates): {last.seconds_per_epoch:.3f} s against "
            f"{first.seconds_per_epoch:.3f} s per network (engine on this machine, SGD only).")


# --- MNIST ----------------------------------------------------------------------------------------


def hidden_size(c: Claims) -> str:
    points = c.hidden_size
    first, last = points[0], points[-1]
    ordered = [p.mean for p in points if p.kept]
    rising = all(b >= a for a, b in itertools.pairwise(ordered))
    return (f"{rule.trains(first.final)}: l = {first.value:g} reaches {_outcome(first)}; "
            f"l = {last.value:g} {_outcome(last)} ({'rising' if rising else 'not monotone'} "
            f"in l).")


def sigmoid_hidden(c: Claims) -> str:
    sigmoid = _label(c.activation, "sigmoid")
    others = [p for p in c.activation if p.label != "sigmoid"]
    if sigmoid is None or not others:
        return f"{rule.UNMEASURED}: the activation sweep has no sigmoid or nothing beside it."
    cells = ", ".join(f"{p.label} {_outcome(p)} ({rule.difference(p.final, sigmoid.final).points()}"
                      f" against the sigmoid)" for p in others)
    return (f"{rule.sigmoid_hidden(sigmoid.final, [p.final for p in others])}: the sigmoid "
            f"{_outcome(sigmoid)}; {cells}.")


def recipe(c: Claims) -> str:
    found = _find(c, "l30-softmax_eq35", "l100-softmax_eq35") or []
    finals = [r.final for r in found] + [p.final for p in c.hidden_size]
    reproduced = ", ".join(f"`{r.name}` {_pct(rule.mean(r.final))} ({_diverged(r.final)})"
                           for r in found) or "not in the reproduction"
    swept = sum(len(p.final) for p in c.hidden_size)
    gone = [p for p in c.hidden_size if p.diverged]
    where = "".join(f"; l = {p.value:g}: {p.diverged} of {len(p.final)}" for p in gone)
    return (f"{rule.recipe(finals)}: mean final test accuracy {reproduced}; in the hidden-layer "
            f"sweep, diverged {sum(p.diverged for p in gone)} of {swept}{where}. The figures "
            f"quoted beside it: below.")


def unseen_data(c: Claims) -> str:
    found = _find(c, "l30-softmax_eq35", "l100-softmax_eq35")
    if found is None:
        return _missing("l30-softmax_eq35", "l100-softmax_eq35")
    scores = ", ".join(f"`{r.name}` {_pct(rule.mean(r.final))} ({_diverged(r.final)})"
                       for r in found)
    return (f"{rule.recipe([r.final for r in found])}: trained on the training images, the "
            f"recipe's networks score {scores} on the 10,000 test images, mean final test "
            f"accuracy over {len(found[0].final)} seeds.")


def _diverged(final: Sequence[float]) -> str:
    return f"diverged {len(final) - len(rule.finite(final))} of {len(final)}"


def figures(c: Claims) -> str:
    found = _find(c, "l30-cross_entropy", "l100-cross_entropy")
    if found is None:
        return _missing("l30-cross_entropy", "l100-cross_entropy")
    inside = [rule.within(r.textbook or math.nan, r.best) for r in found]
    also, recipe = "", _find(c, "l30-softmax_eq35", "l100-softmax_eq35")
    if recipe is not None:  # the same figures against the recipe's own runs
        reached = sum(bool(rule.within(made.textbook or math.nan, own.best))
                      for made, own in zip(found, recipe, strict=True))
        also = f"; within the recipe's own, softmax with (35): {reached} of {len(recipe)}"
    return (f"{rule.figures(inside)}: {sum(map(bool, inside))} of {len(inside)} lie within our "
            f"[min, max] over {len(found[0].best)} seeds at the best epoch (the chapter's "
            f"reading) of the sigmoid-output runs that made them (Errata){also}.")


def quadratic_figures(c: Claims) -> str:
    stated = _find(c, "l30-quadratic_eta0.5", "l100-quadratic_eta0.5")
    if stated is None:
        return _missing("l30-quadratic_eta0.5", "l100-quadratic_eta0.5")
    figure = {r.name: configuration(r.name.replace("_eta0.5", "")).textbook or math.nan
              for r in stated}
    inside = [rule.within(figure[r.name], r.best) for r in stated]
    cells = ", ".join(f"{_pct(figure[r.name])} against {_span(r.best)}" for r in stated)
    nielsen = _find(c, "l30-quadratic", "l100-quadratic") or []
    there = sum(bool(rule.within(r.textbook or math.nan, r.best)) for r in nielsen)
    at_three = (f"; at Nielsen's η = 3.0, where they were measured, {there} of {len(nielsen)} "
                f"within (Errata)" if nielsen else "")
    return (f"{rule.figures(inside)} at the stated η = 0.5: {cells} (best epoch, min–max over "
            f"seeds){at_three}.")


def _span(values: Sequence[float]) -> str:
    kept = rule.finite(values)
    return "—" if not kept else f"{_pct(min(kept))}–{_pct(max(kept))}"


def _costs(c: Claims, size: int, verdict: Callable[..., str]) -> str:
    """The cross-entropy against the quadratic cost at l = ``size``, at the stated η and at
    Nielsen's, over the seeds, stalled runs in the mean."""
    parts = []
    for eta, whose in (("_eta0.5", "the chapter's"), ("", "Nielsen's")):
        pair = _find(c, f"l{size}-cross_entropy", f"l{size}-quadratic{eta}")
        if pair is None:
            parts.append(f"at {whose} η, {rule.UNMEASURED}: the reproduction has no "
                         f"`l{size}-quadratic{eta}` (run `scripts/reproduce.py`)")
            continue
        ce, quad = pair
        d = rule.difference(ce.final, quad.final)
        text = (f"at η = {quad.lr:g} ({whose}), {verdict(ce.final, quad.final)}: "
                f"{_pct(rule.mean(ce.final))} against {_pct(rule.mean(quad.final))}, "
                f"{d.points()}, {sum(quad.stalled)} of {len(quad.stalled)} quadratic runs stalled")
        healthy = [f for f, s in zip(quad.final, quad.stalled, strict=True) if not s]
        if healthy and len(healthy) < len(quad.final):  # does the verdict rest on the stalls?
            text += (f" (without them {rule.difference(ce.final, healthy).points()}: "
                     f"{verdict(ce.final, healthy)})")
        parts.append(text)
    return "; ".join(parts) + "."


def slightly_worse(c: Claims) -> str:
    return _capital(_costs(c, 30, rule.slightly_worse))


def considerable(c: Claims) -> str:
    return _capital(_costs(c, 100, rule.considerable))


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def one_in(c: Claims) -> str:
    o = c.one_in
    return (f"{rule.erratum(round(o.one_in) != 14)}: {_pct(o.quadratic)} → "
            f"{_pct(o.cross_entropy)} removes {100 * o.share:.2f} % of the errors, 1 in "
            f"{o.one_in:.1f}.")


def recall_prose(c: Claims) -> str:
    confusion = torch.tensor([[50, 10], [20, 20]])
    readings = errata.recall_readings(confusion)
    sentence = readings["sentence: actual over identified positives"]
    return (f"{rule.erratum(abs(sentence - readings['formula']) > rule.WRONG)}: on TP 20, FN 20, "
            f"FP 10 the formula gives {readings['formula']:.2f}, the sentence's reading "
            f"{sentence:.2f}.")


def unbalanced(c: Claims) -> str:
    acc = [r.measures["accuracy"] for r in c.unbalanced]
    spec = [r.measures["specificity"] for r in c.unbalanced]
    recall = [r.measures["recall"] for r in c.unbalanced]
    balanced = [r.measures["balanced accuracy"] for r in c.unbalanced]
    return (f"{rule.unbalanced(acc, spec, recall)}: never predicting the digit scores "
            f"{_pct(min(acc))}–{_pct(max(acc))} accuracy and {_pct(min(spec))} specificity with "
            f"recall {max(recall):g}; balanced accuracy {_pct(min(balanced))} (now beside them in "
            f"the printed report).")
