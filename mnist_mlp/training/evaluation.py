"""Measuring a network on one split of the data: its mean loss, predictions and confusion
matrix (from which ``textbook.metrics`` gives accuracy, precision, recall and specificity)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..data import DigitTensors
from ..textbook.losses import network_loss
from ..textbook.metrics import confusion_matrix
from ..textbook.model import MLP


@dataclass(frozen=True)
class Evaluation:
    """Mean loss, confusion matrix and predictions of a network on one data split."""

    loss: float
    confusion: Tensor
    predictions: Tensor | None = None  # the predicted class of each digit

    @property
    def accuracy(self) -> float:
        """Correct predictions over all predictions: trace(C) / sum(C)."""
        return self.confusion.trace().item() / self.confusion.sum().item()


@torch.no_grad()
def evaluate(model: MLP, data: DigitTensors, loss: str, batch_size: int = 10_000) -> Evaluation:
    """Mean loss and confusion matrix of ``model`` on ``data``, in large batches."""
    loss_fn = network_loss(loss, model.output_activation)
    total, predictions = 0.0, []
    for start in range(0, len(data), batch_size):
        x, y = data[start:start + batch_size]
        z = model.logits(x)
        output = model.output_activation(z)
        total += loss_fn(z, y, "sum", output).item()
        predictions.append(output.argmax(dim=1))
    predicted = torch.cat(predictions)
    return Evaluation(total / len(data), confusion_matrix(predicted, data.labels), predicted)
