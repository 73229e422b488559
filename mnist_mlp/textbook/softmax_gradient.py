"""The chapter's softmax-gradient derivation, line by line: as printed, and corrected.

With ``F_j = e^(z_j) / Σ_k e^(z_k)``, ``z = W²a¹ + b²``, and the softmax cross-entropy summed over
the samples, ``L = −Σᵢ ln F_{nᵢ}(xᵢ)`` (nᵢ the label of sample i; ``losses.log_likelihood``,
``reduction="sum"``), the chapter derives ``∂L/∂b_j`` in three lines:

1. ``−Σᵢ (1/F_{nᵢ}) ∂F_{nᵢ}/∂b_j`` — the chain rule; right.
2. ``−Σᵢ (1/F_{nᵢ}) [F_{nᵢ} δ_{nᵢ,j} − F_{nᵢ}²]`` as printed; the softmax Jacobian
   ∂F_n/∂z_j = F_n δ_nj − F_n F_j makes the last term ``F_{nᵢ} F_j``.
3. ``Σᵢ [F_{nᵢ}(xᵢ) − y_{nᵢ}]`` as printed, the same for every j (and never positive);
   corrected ``Σᵢ [F_j(xᵢ) − y_ij]``, the error on output j.

For the weights the chapter prints no line, only that they too are linear in the error: so
they are, ``∂L/∂W²_jk = Σᵢ [F_j(xᵢ) − y_ij] a¹_k(xᵢ)``; the printed line 3 carried over (ours,
for contrast) is the same for every j. The conclusion holds for the corrected lines. Each
function takes F (m, 10), ``labels`` (m,) and, for the weights, ``a1`` (m, l);
tests/lab/test_errata.py compares each with autograd on MNIST digits.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .losses import one_hot  # δ_{nᵢ,j} = y_ij: one-hot rows of the labels, (m, 10)


def _label_entries(F: Tensor, labels: Tensor) -> Tensor:
    """``F_{nᵢ}(xᵢ)``: each sample's output at its label, shape (m,)."""
    return F.gather(1, labels.view(-1, 1)).squeeze(1)


def softmax_jacobian(F: Tensor) -> Tensor:
    """``∂F_n/∂z_j = F_n δ_nj − F_n F_j`` per sample, shape (m, 10, 10) (rows n, columns j)."""
    return torch.diag_embed(F) - F.unsqueeze(2) * F.unsqueeze(1)


def bias_gradient_line1(F: Tensor, labels: Tensor) -> Tensor:
    """Line 1, the chain rule: ``−Σᵢ (1/F_{nᵢ}) ∂F_{nᵢ}/∂b_j``, with ∂F/∂b = ∂F/∂z exact."""
    rows = softmax_jacobian(F)[torch.arange(F.shape[0]), labels]  # ∂F_{nᵢ}/∂z_j, (m, 10)
    return -(rows / _label_entries(F, labels).unsqueeze(1)).sum(dim=0)


def bias_gradient_line2_printed(F: Tensor, labels: Tensor) -> Tensor:
    """Line 2 as printed: ``−Σᵢ (1/F_{nᵢ}) [F_{nᵢ} δ_{nᵢ,j} − F_{nᵢ}²]``."""
    Fn = _label_entries(F, labels).unsqueeze(1)
    return -((Fn * one_hot(labels, F) - Fn**2) / Fn).sum(dim=0)


def bias_gradient_line2(F: Tensor, labels: Tensor) -> Tensor:
    """Line 2 corrected: ``−Σᵢ (1/F_{nᵢ}) [F_{nᵢ} δ_{nᵢ,j} − F_{nᵢ} F_j]``."""
    Fn = _label_entries(F, labels).unsqueeze(1)
    return -((Fn * one_hot(labels, F) - Fn * F) / Fn).sum(dim=0)


def bias_gradient_printed(F: Tensor, labels: Tensor) -> Tensor:
    """Line 3 as printed: ``Σᵢ [F_{nᵢ}(xᵢ) − y_{nᵢ}]`` for every j (y_{nᵢ} = 1: one-hot)."""
    value = (_label_entries(F, labels) - 1).sum()
    return value.expand(F.shape[1]).clone()


def bias_gradient(F: Tensor, labels: Tensor) -> Tensor:
    """Line 3 corrected: ``∂L/∂b_j = Σᵢ [F_j(xᵢ) − y_ij]``."""
    return (F - one_hot(labels, F)).sum(dim=0)


def weight_gradient_printed(F: Tensor, labels: Tensor, a1: Tensor) -> Tensor:
    """The printed line 3 carried to the weights (the chapter prints no weight line):
    ``Σᵢ [F_{nᵢ}(xᵢ) − y_{nᵢ}] a¹_k(xᵢ)``, the same row for every j."""
    row = ((_label_entries(F, labels) - 1).unsqueeze(1) * a1).sum(dim=0)
    return row.expand(F.shape[1], -1).clone()


def weight_gradient(F: Tensor, labels: Tensor, a1: Tensor) -> Tensor:
    """Corrected: ``∂L/∂W²_jk = Σᵢ [F_j(xᵢ) − y_ij] a¹_k(xᵢ)``."""
    return (F - one_hot(labels, F)).T @ a1
