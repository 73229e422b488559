"""Precision, recall and specificity on very unbalanced data: one digit against the other nine.

The chapter warns that these measures can mislead when the classes are very unbalanced. Taken
one against the rest, each MNIST digit is about a tenth of the test set. A classifier that never
says "it is the digit" is then right on about 90 % of the images and never raises a false alarm
(specificity 100 %), while it finds none of the digit (recall 0). Balanced accuracy, the mean of
recall and specificity (``ClassificationReport.balanced_accuracy``), shows it at 50 %.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from mnist_mlp.textbook import NUM_CLASSES, classification_report, confusion_matrix

MEASURES = ("accuracy", "precision", "recall", "specificity", "balanced accuracy")


@dataclass
class OneAgainstNine:
    """The never-the-digit classifier, for one digit against the other nine."""

    digit: int
    share: float  # of the images that show the digit
    measures: dict[str, float]  # MEASURES → value, the digit being the positive class


def never_the_digit(labels: Tensor, digit: int) -> OneAgainstNine:
    """Score the classifier that answers "not ``digit``" for every one of ``labels``."""
    truth = (labels == digit).to(torch.int64)  # 1: the digit (positive), 0: the rest
    report = classification_report(confusion_matrix(torch.zeros_like(truth), truth, 2))
    measures = {"accuracy": report.accuracy, "precision": float(report.precision[1]),
                "recall": float(report.recall[1]), "specificity": float(report.specificity[1]),
                "balanced accuracy": float(report.balanced_accuracy[1])}
    return OneAgainstNine(digit, float(truth.double().mean()), measures)


def unbalanced(labels: Tensor) -> list[OneAgainstNine]:
    """``never_the_digit`` for every digit of ``labels`` (the test set)."""
    return [never_the_digit(labels, d) for d in range(NUM_CLASSES)]
