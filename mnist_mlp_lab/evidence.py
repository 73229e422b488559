"""Why a run stalls, measured: stalled runs, stuck units, lost digits, the output error δ;
and the softmax gradient check.

A run *stalls* when it has lost a digit (``LOST_RECALL``), or when its final-epoch test accuracy
is more than ``STALL_MARGIN`` (5 percentage points) below the best final-epoch test accuracy of
its configuration (``stalled_flags``): healthy runs of one configuration lie within about a point
of each other, while an output neuron stuck at 0 costs the ~10 % of test images of its digit.
``saturation_evidence`` measures why a network stalls (stuck output and hidden units, per-class
recall, the output error δ that would have to move them); ``group_evidence`` sums that up over
several networks.
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypedDict

import torch
from torch import Tensor

from mnist_mlp.data import DigitTensors
from mnist_mlp.textbook import (
    MLP,
    NUM_CLASSES,
    classification_report,
    confusion_matrix,
    get_loss,
    log_likelihood,
    one_hot,
)
from mnist_mlp.training import EpochRecord, diverged, final_accuracy

from .configurations import STALL_MARGIN

if TYPE_CHECKING:
    from .results import Run

SATURATION = 0.01
"""An activation below 0.01 or above 0.99 is saturated: σ'(z) = σ(1 − σ) < 0.0099."""
STUCK_FRACTION = 0.99
"""A unit saturated on the same side for at least 99 % of the test images is stuck."""
LOST_RECALL = 0.05
"""A digit whose recall is below 5 % is lost: the network (almost) never recognises it."""

class StuckOutput(TypedDict):
    """An output unit stuck at 0 or 1, and its error on the images where it is wrong."""

    unit: int
    stuck_at: int  # 0 or 1
    wrong_images: int  # images where |F − y| > ½ for this unit
    mean_abs_error: float | None  # mean |F − y| there: the cross-entropy's δ would be this
    mean_abs_delta: float | None  # mean |δ| there of the network's own cost, δ = ∂ℓ/∂z


class DeltaGroup(TypedDict):
    """The mean |δ| over wrong (image, output unit) pairs of one group of units."""

    pairs: int
    mean_abs_delta: float | None


class Evidence(TypedDict):
    """What ``saturation_evidence`` measures for one network (plain data, as in the JSON)."""

    images: int
    accuracy: float
    stuck_outputs: list[StuckOutput]
    stuck_hidden: int
    stuck_hidden_fraction: float
    saturated_hidden_fraction: float
    recall: list[float]
    never_predicted: list[int]
    wrong_delta: dict[str, DeltaGroup]  # "stuck" and "other" output units


class GroupEvidence(TypedDict):
    """``Evidence`` of several networks, summed up by ``group_evidence``."""

    networks: int
    seeds: list[int]
    final_accuracy: float
    stuck_outputs_per_network: float
    stuck_outputs: dict[str, int]  # "at_0", "at_1"
    networks_with_stuck_output: int
    networks_never_predicting_a_digit: int
    never_predicted: list[int]
    lost_digits_per_network: float
    lost_digits: list[int]
    stuck_outputs_are_the_lost_digits: int  # networks whose stuck units are their lost digits
    stuck_outputs_range: list[int]  # [fewest, most] stuck output units in one network
    stuck_never_predicted: int  # stuck output units whose digit the network never predicts
    stuck_lost_but_predicted: int  # … whose digit it predicts, but with recall < LOST_RECALL
    stuck_recognised: int  # … whose digit it still recognises (recall ≥ LOST_RECALL)
    min_recall: float
    stuck_hidden_fraction: float
    saturated_hidden_fraction: float
    stuck_output_error: float | None
    wrong_delta_stuck: float | None
    wrong_delta_other: float | None


def stalled_flags(histories: Sequence[Sequence[EpochRecord]],
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
                        stuck_fraction: float = STUCK_FRACTION) -> Evidence:
    """Why a trained network is where it is, measured on ``data`` (the test set), in float64.

    * ``stuck_outputs``: output units saturated on the same side (F < 0.01, or F > 0.99) for at
      least 99 % of the images — stuck at 0 or 1 whatever the input (``StuckOutput``);
    * ``stuck_hidden_fraction``: the same for hidden units; ``saturated_hidden_fraction``: the
      share of all hidden activations (image × unit) outside [0.01, 0.99];
    * ``recall`` per digit and ``never_predicted`` digits;
    * ``wrong_delta``: the mean |δ| over all wrong (image, output unit) pairs, of stuck units
      and of the other units.
    """
    model = copy.deepcopy(model).to(torch.float64).eval()
    device = next(model.parameters()).device
    labels = data.labels.to(device)
    a1 = model.hidden_activations(data.images.to(device, torch.float64))
    F = model.output_activation(model.output(a1))
    y = one_hot(labels, F)
    delta = model.output_activation.backward(F, get_loss(loss).grad(F, y))  # (BP1), per image
    out0, out1 = _stuck(F, threshold, stuck_fraction)
    hidden0, hidden1 = _stuck(a1, threshold, stuck_fraction)
    wrong = (F - y).abs() > 0.5
    stuck_mask = (out0 | out1).expand_as(wrong)
    predictions = F.argmax(dim=1)
    report = classification_report(confusion_matrix(predictions, labels))
    counts = torch.bincount(predictions, minlength=NUM_CLASSES)
    return Evidence(
        images=len(data), accuracy=report.accuracy,
        stuck_outputs=[_stuck_output(unit, bool(out0[unit]), F - y, delta, wrong)
                       for unit in (out0 | out1).nonzero().flatten().tolist()],
        stuck_hidden=int((hidden0 | hidden1).sum()),
        stuck_hidden_fraction=float((hidden0 | hidden1).to(torch.float64).mean()),
        saturated_hidden_fraction=float(((a1 < threshold) | (a1 > 1 - threshold))
                                        .to(torch.float64).mean()),
        recall=[float(r) for r in report.recall.tolist()],
        never_predicted=[d for d in range(NUM_CLASSES) if int(counts[d]) == 0],
        wrong_delta={"stuck": _delta_group(delta, wrong & stuck_mask),
                     "other": _delta_group(delta, wrong & ~stuck_mask)})


def _stuck(a: Tensor, threshold: float, fraction: float) -> tuple[Tensor, Tensor]:
    """Units (columns of ``a``) below ``threshold``, or above ``1 − threshold``, on at least
    ``fraction`` of the images (rows)."""
    return ((a < threshold).to(torch.float64).mean(0) >= fraction,
            (a > 1 - threshold).to(torch.float64).mean(0) >= fraction)


def _stuck_output(unit: int, at_0: bool, error: Tensor, delta: Tensor,
                  wrong: Tensor) -> StuckOutput:
    rows = wrong[:, unit]
    return StuckOutput(unit=unit, stuck_at=0 if at_0 else 1, wrong_images=int(rows.sum()),
                       mean_abs_error=_mean(error[rows, unit].abs()),
                       mean_abs_delta=_mean(delta[rows, unit].abs()))


def _delta_group(delta: Tensor, pairs: Tensor) -> DeltaGroup:
    return DeltaGroup(pairs=int(pairs.sum()), mean_abs_delta=_mean(delta[pairs].abs()))


def _mean(values: Tensor) -> float | None:
    return float(values.mean()) if values.numel() else None


def group_evidence(runs: Sequence[Run]) -> GroupEvidence | None:
    """``saturation_evidence`` of several networks, summed up (None for no networks)."""
    measured = [(r, r.evidence) for r in runs if r.evidence is not None]
    if not measured:
        return None
    runs, evidence = [r for r, _ in measured], [e for _, e in measured]

    def pooled(group: str) -> float | None:
        """The mean |δ| over the wrong pairs of ``group`` of every network (None: no pair)."""
        groups = [e["wrong_delta"][group] for e in evidence]
        pairs = sum(g["pairs"] for g in groups)
        if not pairs:
            return None  # a group without pairs has no mean (None), and weighs nothing
        return sum(g["pairs"] * (g["mean_abs_delta"] or 0.0) for g in groups) / pairs

    stuck_units = [u for e in evidence for u in e["stuck_outputs"]]
    errors = [u["mean_abs_error"] for u in stuck_units if u["mean_abs_error"] is not None]
    kinds = [_stuck_kind(u["unit"], e) for e in evidence for u in e["stuck_outputs"]]
    per_network = [len(e["stuck_outputs"]) for e in evidence]
    return GroupEvidence(
        networks=len(runs),
        seeds=[r.seed for r in runs],
        final_accuracy=statistics.fmean(final_accuracy(r.history) for r in runs),
        stuck_outputs_per_network=statistics.fmean(len(e["stuck_outputs"]) for e in evidence),
        stuck_outputs={"at_0": sum(u["stuck_at"] == 0 for u in stuck_units),
                       "at_1": sum(u["stuck_at"] == 1 for u in stuck_units)},
        networks_with_stuck_output=sum(bool(e["stuck_outputs"]) for e in evidence),
        networks_never_predicting_a_digit=sum(bool(e["never_predicted"]) for e in evidence),
        never_predicted=sorted({d for e in evidence for d in e["never_predicted"]}),
        lost_digits_per_network=statistics.fmean(len(r.lost_digits) for r in runs),
        lost_digits=sorted({d for r in runs for d in r.lost_digits}),
        stuck_outputs_are_the_lost_digits=sum(
            {u["unit"] for u in e["stuck_outputs"]} == set(r.lost_digits) for r, e in measured),
        stuck_outputs_range=[min(per_network), max(per_network)],
        stuck_never_predicted=kinds.count("never predicted"),
        stuck_lost_but_predicted=kinds.count("lost"),
        stuck_recognised=kinds.count("recognised"),
        min_recall=statistics.fmean(min(e["recall"]) for e in evidence),
        stuck_hidden_fraction=statistics.fmean(e["stuck_hidden_fraction"] for e in evidence),
        saturated_hidden_fraction=statistics.fmean(e["saturated_hidden_fraction"]
                                                   for e in evidence),
        stuck_output_error=statistics.fmean(errors) if errors else None,
        wrong_delta_stuck=pooled("stuck"),
        wrong_delta_other=pooled("other"))


def _stuck_kind(unit: int, evidence: Evidence) -> str:
    """What a stuck output unit's digit is to its network: "never predicted", "lost" (predicted
    now and then, recall below ``LOST_RECALL``) or "recognised"."""
    if unit in evidence["never_predicted"]:
        return "never predicted"
    return "lost" if evidence["recall"][unit] < LOST_RECALL else "recognised"


# --- the softmax gradient check ----------------------------------------------------------------


def softmax_bias_gradient_check(images: Tensor, labels: Tensor, model: MLP | None = None, *,
                                batches: int = 5, batch_size: int = 10,
                                seed: int = 0) -> dict[str, Any]:
    """∂L/∂b² from autograd against Σ_i (F(x_i) − y_i), for softmax with cross-entropy.

    With a softmax output and the log-likelihood cost summed over a mini-batch
    (``log_likelihood(..., reduction="sum")``), the output error is δ² = F − y (Nielsen eq. 81–
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
        log_likelihood(F, y, reduction="sum").backward()
        expected = (F.detach() - one_hot(y, F)).sum(dim=0)
        worst = max(worst, float((model.output.bias.grad - expected).abs().max()))
        largest = max(largest, float(expected.abs().max()))
    return {"hidden_size": model.hidden_size, "batches": batches, "batch_size": batch_size,
            "dtype": "float64", "max_abs_difference": worst, "max_abs_gradient": largest}
