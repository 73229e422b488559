"""Pictures of a network for TensorBoard: its hidden neurons' weights, its confusion matrix, and
the test digits it gets wrong.

Plain functions from tensors to an image tensor or a matplotlib ``Figure``;
``mnist_mlp.training.runs`` writes them. Figures are made with ``matplotlib.figure.Figure``
directly (not ``pyplot``), so no window or global figure state is involved.
"""

from __future__ import annotations

import math

import torch
from matplotlib.figure import Figure
from torch import Tensor

from ..textbook.model import IMAGE_SIDE

HIDDEN_IMAGES = 64
"""How many hidden neurons' weight rows ``weight_images`` shows at most."""
MISCLASSIFIED_SHOWN = 36
"""How many misclassified test digits ``misclassified_figure`` shows at most."""


def weight_images(weight: Tensor, count: int = HIDDEN_IMAGES) -> Tensor:
    """The first ``count`` rows of W¹ (l, 784) as 28×28 images, shape (n, 1, 28, 28) in [0, 1].

    Row j holds the weights from the 784 pixels into hidden neuron j, so its image shows which
    pixels excite (light) or inhibit (dark) the neuron. Each image is scaled on its own as
    ``0.5 + w / (2 max|w|)``: a zero weight is mid-grey.
    """
    rows = weight[:count].detach().to("cpu", torch.float32)
    scale = rows.abs().amax(dim=1, keepdim=True).clamp_min(1e-12)
    images = 0.5 + rows / (2 * scale)
    return images.reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE)


def confusion_figure(confusion: Tensor) -> Figure:
    """The confusion matrix as a heat map with its counts: rows true class, columns predicted."""
    counts = confusion.detach().cpu()
    k = counts.shape[0]
    figure = Figure(figsize=(6, 5.5), dpi=100)
    axes = figure.add_subplot()
    shown = axes.imshow(counts.numpy(), cmap="Blues")
    figure.colorbar(shown, ax=axes, fraction=0.046, pad=0.04)
    threshold = counts.max().item() / 2
    for i in range(k):
        for j in range(k):
            value = int(counts[i, j])
            axes.text(j, i, str(value), ha="center", va="center", fontsize=7,
                      color="white" if value > threshold else "black")
    axes.set_xticks(range(k))
    axes.set_yticks(range(k))
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    accuracy = counts.trace().item() / max(counts.sum().item(), 1)
    axes.set_title(f"test confusion matrix (accuracy {100 * accuracy:.2f}%)")
    figure.tight_layout()
    return figure


def misclassified_figure(images: Tensor, labels: Tensor, predictions: Tensor,
                         count: int = MISCLASSIFIED_SHOWN) -> Figure | None:
    """A grid of the first ``count`` digits whose prediction is wrong, titled "predicted / true".

    ``images`` are rows of 784 pixels (or 28×28), ``labels`` and ``predictions`` class indices.
    Returns None when every digit is classified correctly.
    """
    wrong = (predictions.cpu() != labels.cpu()).nonzero().flatten()[:count]
    if len(wrong) == 0:
        return None
    columns = math.ceil(math.sqrt(len(wrong)))
    rows = math.ceil(len(wrong) / columns)
    figure = Figure(figsize=(1.2 * columns, 1.35 * rows + 0.4), dpi=100)
    figure.suptitle("misclassified test digits: predicted / true", fontsize=9)
    pixels = images.detach().cpu().reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    for position, index in enumerate(wrong.tolist()):
        axes = figure.add_subplot(rows, columns, position + 1)
        axes.imshow(pixels[index].numpy(), cmap="gray", vmin=0.0, vmax=1.0)
        axes.set_title(f"{int(predictions[index])} / {int(labels[index])}", fontsize=8)
        axes.axis("off")
    figure.tight_layout()
    return figure
