"""Evaluation: accuracy, the confusion matrix, and per-class precision, recall (sensitivity),
specificity and balanced accuracy, one class against the rest.

The chapter defines accuracy as correct predictions over all predictions, and, for a binary
classifier in terms of true and false positives and negatives, precision, recall (sensitivity)
and specificity (all unnumbered); here each class is the positive class against the rest. It
warns that these can mislead on very unbalanced data: one digit against the other nine is 1 : 9,
and a classifier that never predicts the digit has about 90 % accuracy and 100 % specificity
(measured by ``scripts/claims.py``). Balanced accuracy, the mean of recall and specificity,
gives it 50 %: it is added here for that reason (it is not the chapter's).

Pure functions on tensors: this module knows nothing of models, data or training. The inputs
are predicted and true class indices (integer tensors of the same shape, on any device); the
outputs are Python numbers or CPU tensors.

Conventions
-----------
The confusion matrix ``C`` has **rows = true class, columns = predicted class**: ``C[i, j]`` is
the number of samples of true class ``i`` predicted as class ``j``. For class ``k`` taken
against the rest (``N`` = total number of samples)::

    TP_k = C[k, k]
    FP_k = sum_i C[i, k] - TP_k        (column sum minus the diagonal)
    FN_k = sum_j C[k, j] - TP_k        (row sum minus the diagonal)
    TN_k = N - TP_k - FP_k - FN_k

    precision_k   = TP_k / (TP_k + FP_k)
    recall_k      = TP_k / (TP_k + FN_k)      (sensitivity)
    specificity_k = TN_k / (TN_k + FP_k)
    balanced_k    = (recall_k + specificity_k) / 2

A ratio whose denominator is zero is reported as 0, never NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .model import NUM_CLASSES

__all__ = [
    "ClassificationReport",
    "accuracy",
    "classification_report",
    "confusion_matrices",
    "confusion_matrix",
]


def _check_index_pair(predictions: Tensor, labels: Tensor) -> None:
    """Validate that ``predictions`` and ``labels`` are integer tensors of one shape."""
    if predictions.shape != labels.shape:
        raise ValueError(
            f"predictions and labels must have the same shape, got "
            f"{tuple(predictions.shape)} and {tuple(labels.shape)}"
        )
    for name, t in (("predictions", predictions), ("labels", labels)):
        if t.dtype == torch.bool or t.is_floating_point() or t.is_complex():
            raise TypeError(f"{name} must be an integer tensor of class indices, got {t.dtype}")


def accuracy(predictions: Tensor, labels: Tensor) -> float:
    """Fraction of samples whose predicted class equals the true class (the chapter's accuracy,
    correct predictions over all predictions).

    ``accuracy = (1/N) * sum_n [predictions_n == labels_n]``, which equals
    ``trace(C) / sum(C)`` for the confusion matrix ``C``.

    Args:
        predictions: integer tensor of predicted class indices, any shape, any device.
        labels: integer tensor of true class indices, same shape as ``predictions``.

    Returns:
        The accuracy in ``[0, 1]`` as a Python float.

    Raises:
        ValueError: if the inputs are empty or their shapes differ.
        TypeError: if either input is not an integer tensor.
    """
    _check_index_pair(predictions, labels)
    n = labels.numel()
    if n == 0:
        raise ValueError("accuracy of an empty set of predictions is undefined")
    correct = int((predictions == labels.to(predictions.device)).sum().item())
    return correct / n


def confusion_matrix(predictions: Tensor, labels: Tensor,
                     num_classes: int = NUM_CLASSES) -> Tensor:
    """Confusion matrix: **rows are true classes, columns are predicted classes**.

    ``C[i, j] = #{n : labels_n == i and predictions_n == j}``, computed in one vectorised
    ``bincount`` of ``labels * num_classes + predictions``. Row ``i`` sums to the support of
    class ``i``; column ``j`` sums to the number of samples predicted as ``j``; the whole matrix
    sums to ``N``; the trace is the number of correct predictions.

    The inputs may live on any device (CPU or GPU); the counting is done there and the result
    is returned **on the CPU**. Inputs of any shape are flattened.

    Args:
        predictions: integer tensor of predicted class indices in ``[0, num_classes)``.
        labels: integer tensor of true class indices in ``[0, num_classes)``, same shape.
        num_classes: number of classes (10 for MNIST).

    Returns:
        An int64 CPU tensor of shape ``(num_classes, num_classes)``. Empty inputs give all zeros.

    Raises:
        ValueError: if ``num_classes < 1``, the shapes differ, or any index is out of range.
        TypeError: if either input is not an integer tensor.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    _check_index_pair(predictions, labels)
    preds = predictions.reshape(-1).to(torch.int64)
    labs = labels.reshape(-1).to(device=preds.device, dtype=torch.int64)
    if labs.numel() > 0:
        for name, t in (("labels", labs), ("predictions", preds)):
            lo, hi = int(t.min().item()), int(t.max().item())
            if lo < 0 or hi >= num_classes:
                raise ValueError(
                    f"{name} must lie in [0, {num_classes}), got values in [{lo}, {hi}]"
                )
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


@dataclass(frozen=True, eq=False)
class ClassificationReport:
    """Per-class metrics derived from a confusion matrix, one class against the rest.

    ``eq=False``: instances compare by identity, since ``==`` on tensor fields is elementwise.

    Attributes:
        confusion: int64 ``(K, K)`` confusion matrix, rows true class, columns predicted class.
        accuracy: ``trace(C) / sum(C)``.
        precision: float64 ``(K,)``, ``TP_k / (TP_k + FP_k)`` (0 where the class is never
            predicted).
        recall: float64 ``(K,)``, sensitivity ``TP_k / (TP_k + FN_k)`` (0 where the class is
            absent from the labels).
        specificity: float64 ``(K,)``, ``TN_k / (TN_k + FP_k)`` (0 where every sample belongs
            to class ``k``).

    ``balanced_accuracy`` (a property) is ``(recall + specificity) / 2`` per class.
    """

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
        """Number of samples of each true class: the row sums ``sum_j C[k, j]`` (int64)."""
        return self.confusion.sum(dim=1)

    @property
    def total(self) -> int:
        """Total number of samples ``N = sum_ij C[i, j]``."""
        return int(self.confusion.sum().item())

    @property
    def macro_precision(self) -> float:
        """Unweighted mean of the per-class precisions: ``(1/K) * sum_k precision_k``."""
        return float(self.precision.mean().item())

    @property
    def macro_recall(self) -> float:
        """Unweighted mean of the per-class recalls: ``(1/K) * sum_k recall_k``."""
        return float(self.recall.mean().item())

    @property
    def macro_specificity(self) -> float:
        """Unweighted mean of the per-class specificities: ``(1/K) * sum_k specificity_k``."""
        return float(self.specificity.mean().item())

    @property
    def balanced_accuracy(self) -> Tensor:
        """Per class, one against the rest, ``(recall_k + specificity_k) / 2`` (float64 ``(K,)``).

        Unlike accuracy and specificity it is not fooled by a rare class: a class that is never
        predicted scores 50 %, however few its samples.
        """
        return (self.recall + self.specificity) / 2

    @property
    def macro_balanced_accuracy(self) -> float:
        """Unweighted mean of the per-class balanced accuracies."""
        return float(self.balanced_accuracy.mean().item())

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python (JSON-serialisable) view: ints, floats and (nested) lists only.

        Keys: ``num_classes``, ``total``, ``accuracy``, ``macro_precision``, ``macro_recall``,
        ``macro_specificity``, ``macro_balanced_accuracy``, per-class lists ``precision``,
        ``recall``, ``specificity``, ``balanced_accuracy``, ``support``, and ``confusion``
        (nested lists, rows true class, columns predicted).
        """
        return {
            "num_classes": self.num_classes,
            "total": self.total,
            "accuracy": float(self.accuracy),
            "macro_precision": self.macro_precision,
            "macro_recall": self.macro_recall,
            "macro_specificity": self.macro_specificity,
            "macro_balanced_accuracy": self.macro_balanced_accuracy,
            "precision": [float(v) for v in self.precision.tolist()],
            "recall": [float(v) for v in self.recall.tolist()],
            "specificity": [float(v) for v in self.specificity.tolist()],
            "balanced_accuracy": [float(v) for v in self.balanced_accuracy.tolist()],
            "support": [int(v) for v in self.support.tolist()],
            "confusion": [[int(v) for v in row] for row in self.confusion.tolist()],
        }


def _safe_ratio(numerator: Tensor, denominator: Tensor) -> Tensor:
    """Elementwise ``numerator / denominator`` in float64, with 0 wherever the denominator is 0."""
    num = numerator.to(torch.float64)
    den = denominator.to(torch.float64)
    return torch.where(den > 0, num / torch.where(den > 0, den, 1.0), torch.zeros_like(num))


def classification_report(confusion: Tensor) -> ClassificationReport:
    """Accuracy and per-class precision, recall and specificity from a confusion matrix: the
    chapter's definitions, each class taken as the positive one against the rest.

    ``confusion`` has rows = true class, columns = predicted class (as returned by
    :func:`confusion_matrix`). Each class ``k`` is taken against the rest, with ``N = sum(C)``::

        TP_k = C[k, k]
        FP_k = (column sum k) - TP_k
        FN_k = (row sum k) - TP_k
        TN_k = N - TP_k - FP_k - FN_k

        precision_k   = TP_k / (TP_k + FP_k)
        recall_k      = TP_k / (TP_k + FN_k)     (sensitivity)
        specificity_k = TN_k / (TN_k + FP_k)
        accuracy      = trace(C) / N

    A zero denominator yields 0, never NaN: a class never predicted has precision 0, a class
    absent from the labels has recall 0, and a class to which every sample belongs has
    specificity 0.

    Args:
        confusion: non-negative integer ``(K, K)`` tensor, ``K >= 1``, any device.

    Returns:
        A :class:`ClassificationReport` holding CPU tensors (per-class metrics in float64).

    Raises:
        ValueError: if the matrix is not square, has negative entries, or counts no samples.
        TypeError: if the matrix is not of an integer dtype.
    """
    if confusion.dim() != 2 or confusion.shape[0] != confusion.shape[1] or confusion.numel() == 0:
        raise ValueError(
            f"confusion must be a non-empty square matrix, got shape {tuple(confusion.shape)}"
        )
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
