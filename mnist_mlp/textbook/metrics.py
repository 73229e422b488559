"""Evaluation: accuracy, the confusion matrix, and per class, one against the rest, precision,
recall (sensitivity), specificity and balanced accuracy.

Pure functions of integer tensors of class indices (any device), giving Python numbers or CPU
tensors. The definitions, and why balanced accuracy is added: docs/textbook.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .model import NUM_CLASSES

__all__ = ["ClassificationReport", "accuracy", "classification_report", "confusion_matrices",
           "confusion_matrix"]


def _check_index_pair(predictions: Tensor, labels: Tensor) -> None:
    """Validate that ``predictions`` and ``labels`` are integer tensors of one shape."""
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions and labels must have the same shape, got "
                         f"{tuple(predictions.shape)} and {tuple(labels.shape)}")
    for name, t in (("predictions", predictions), ("labels", labels)):
        if t.dtype == torch.bool or t.is_floating_point() or t.is_complex():
            raise TypeError(f"{name} must be an integer tensor of class indices, got {t.dtype}")


def accuracy(predictions: Tensor, labels: Tensor) -> float:
    """The chapter's accuracy, correct predictions over all predictions:
    ``(1/N) Σ_n [predictions_n = labels_n] = trace(C) / sum(C)``, a float in [0, 1].
    Empty inputs or different shapes are a ValueError, non-integer ones a TypeError."""
    _check_index_pair(predictions, labels)
    n = labels.numel()
    if n == 0:
        raise ValueError("accuracy of an empty set of predictions is undefined")
    return int((predictions == labels.to(predictions.device)).sum().item()) / n


def confusion_matrix(predictions: Tensor, labels: Tensor,
                     num_classes: int = NUM_CLASSES) -> Tensor:
    """``C[i, j] = #{n : labels_n = i and predictions_n = j}``, rows true class, columns
    predicted: int64 (num_classes, num_classes) on the CPU, counted in one ``bincount`` where
    the inputs lie (flattened; empty inputs give zeros). An index out of range is a ValueError."""
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    _check_index_pair(predictions, labels)
    preds = predictions.reshape(-1).to(torch.int64)
    labs = labels.reshape(-1).to(device=preds.device, dtype=torch.int64)
    if labs.numel() > 0:
        for name, t in (("labels", labs), ("predictions", preds)):
            lo, hi = int(t.min().item()), int(t.max().item())
            if lo < 0 or hi >= num_classes:
                raise ValueError(f"{name} must lie in [0, {num_classes}), got values in "
                                 f"[{lo}, {hi}]")
    counts = torch.bincount(labs * num_classes + preds, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).to(device="cpu", dtype=torch.int64)


def confusion_matrices(predictions: Tensor, labels: Tensor,
                       num_classes: int = NUM_CLASSES) -> Tensor:
    """The confusion matrices of K classifiers at once: ``predictions`` (K, N) of the same N
    samples, whose true classes are ``labels`` (N,). Row k of the result (K, C, C) is
    ``confusion_matrix(predictions[k], labels)``, counted in one ``bincount`` (on the CPU)."""
    if predictions.dim() != 2 or predictions.shape[1:] != labels.shape:
        raise ValueError(f"predictions (K, N) and labels (N,) expected, got "
                         f"{tuple(predictions.shape)} and {tuple(labels.shape)}")
    k = predictions.shape[0]
    cells = labels.to(predictions.device) * num_classes + predictions
    offsets = torch.arange(k, device=predictions.device).unsqueeze(1) * num_classes ** 2
    counts = torch.bincount((cells + offsets).flatten(), minlength=k * num_classes ** 2)
    return counts.view(k, num_classes, num_classes).to("cpu", torch.int64)


_PER_CLASS = ("precision", "recall", "specificity", "balanced_accuracy")


@dataclass(frozen=True, eq=False)  # eq=False: == on tensor fields would be elementwise
class ClassificationReport:
    """Per-class measures from a confusion matrix, one class against the rest
    (``classification_report``): ``confusion`` int64 (K, K), ``accuracy`` a float, and float64
    (K,) ``precision``, ``recall`` (sensitivity) and ``specificity``."""

    confusion: Tensor
    accuracy: float
    precision: Tensor
    recall: Tensor
    specificity: Tensor

    @property
    def num_classes(self) -> int:
        """Number of classes ``K``."""
        return int(self.confusion.shape[0])

    @property
    def support(self) -> Tensor:
        """Number of samples of each true class: the row sums ``Σ_j C[k, j]`` (int64)."""
        return self.confusion.sum(dim=1)

    @property
    def total(self) -> int:
        """Total number of samples ``N = Σ_ij C[i, j]``."""
        return int(self.confusion.sum().item())

    @property
    def macro_precision(self) -> float:
        """Unweighted mean of the per-class precisions: ``(1/K) Σ_k precision_k``."""
        return float(self.precision.mean().item())

    @property
    def macro_recall(self) -> float:
        """Unweighted mean of the per-class recalls: ``(1/K) Σ_k recall_k``."""
        return float(self.recall.mean().item())

    @property
    def macro_specificity(self) -> float:
        """Unweighted mean of the per-class specificities: ``(1/K) Σ_k specificity_k``."""
        return float(self.specificity.mean().item())

    @property
    def balanced_accuracy(self) -> Tensor:
        """``(recall_k + specificity_k) / 2`` per class (float64 (K,)): unlike accuracy and
        specificity not fooled by a rare class, which scores 50 % if never predicted."""
        return (self.recall + self.specificity) / 2

    @property
    def macro_balanced_accuracy(self) -> float:
        """Unweighted mean of the per-class balanced accuracies."""
        return float(self.balanced_accuracy.mean().item())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: ``num_classes``, ``total``, ``accuracy``, the ``macro_*`` means,
        the per-class lists, ``support`` and ``confusion`` (nested lists, rows true class)."""
        return {
            "num_classes": self.num_classes,
            "total": self.total,
            "accuracy": float(self.accuracy),
            **{f"macro_{name}": getattr(self, f"macro_{name}") for name in _PER_CLASS},
            **{name: [float(v) for v in getattr(self, name).tolist()] for name in _PER_CLASS},
            "support": [int(v) for v in self.support.tolist()],
            "confusion": [[int(v) for v in row] for row in self.confusion.tolist()],
        }


def _safe_ratio(numerator: Tensor, denominator: Tensor) -> Tensor:
    """Elementwise ``numerator / denominator`` in float64, with 0 wherever the denominator is 0."""
    den = denominator.to(torch.float64)  # counts: 0 or at least 1
    return torch.where(den > 0, numerator.to(torch.float64) / den.clamp(min=1), 0.0)


def classification_report(confusion: Tensor) -> ClassificationReport:
    """The chapter's accuracy, precision, recall and specificity from a confusion matrix
    (rows true class, columns predicted; any device), each class k positive against the rest::

        TP_k = C[k, k]
        FP_k = (column sum k) − TP_k
        FN_k = (row sum k) − TP_k
        TN_k = N − TP_k − FP_k − FN_k             (N = sum(C))

        precision_k   = TP_k / (TP_k + FP_k)
        recall_k      = TP_k / (TP_k + FN_k)     (sensitivity)
        specificity_k = TN_k / (TN_k + FP_k)
        accuracy      = trace(C) / N

    A zero denominator gives 0, never NaN. A matrix not square, negative or empty is a
    ValueError, one not of integers a TypeError.
    """
    if confusion.dim() != 2 or confusion.shape[0] != confusion.shape[1] or confusion.numel() == 0:
        raise ValueError(f"confusion must be a non-empty square matrix, got shape "
                         f"{tuple(confusion.shape)}")
    if confusion.dtype == torch.bool or confusion.is_floating_point() or confusion.is_complex():
        raise TypeError(f"confusion must be an integer tensor of counts, got {confusion.dtype}")
    c = confusion.detach().to(device="cpu", dtype=torch.int64).clone()
    if bool((c < 0).any()):
        raise ValueError("confusion matrix entries must be non-negative counts")
    total = int(c.sum().item())
    if total == 0:
        raise ValueError("confusion matrix counts no samples; the metrics are undefined")

    tp = torch.diagonal(c)
    fp = c.sum(dim=0) - tp
    fn = c.sum(dim=1) - tp
    tn = total - tp - fp - fn
    return ClassificationReport(
        confusion=c,
        accuracy=int(tp.sum().item()) / total,
        precision=_safe_ratio(tp, tp + fp),
        recall=_safe_ratio(tp, tp + fn),
        specificity=_safe_ratio(tn, tn + fp),
    )
