"""The chapter's softmax-gradient derivation, line by line: as printed, and corrected.

The chapter puts a softmax on the output, ``F_j = e^(z_j) / Σ_k e^(z_k)`` with ``z = W²a¹ + b²``,
and takes the softmax cross-entropy of one-hot labels as a sum over the m samples,
``L = −Σᵢ ln F_{nᵢ}(xᵢ)``, nᵢ the label of sample i (``losses.log_likelihood`` with
``reduction="sum"``). Its derivation of ``∂L/∂b_j`` has three lines:

1. ``−Σᵢ (1/F_{nᵢ}) ∂F_{nᵢ}/∂b_j`` — the chain rule; right.
2. ``−Σᵢ (1/F_{nᵢ}) [F_{nᵢ} δ_{nᵢ,j} − F_{nᵢ}²]`` as printed. The softmax Jacobian
   (``activations.Softmax``) gives ``∂F_n/∂z_j = F_n δ_nj − F_n F_j``: the last term is
   ``F_{nᵢ} F_j``, not ``F_{nᵢ}²``.
3. ``Σᵢ [F_{nᵢ}(xᵢ) − y_{nᵢ}]`` as printed, the same number for every j (and, since
   ``y_{nᵢ} = 1``, never positive). From the corrected line 2 it is ``Σᵢ [F_j(xᵢ) − y_ij]``:
   one number per output j, the error the network makes on output j. (Read with
   ``y_{nᵢ}`` as ``δ_{nᵢ,j}``, the printed line 3 is the printed line 2, ``Σᵢ [F_{nᵢ} − δ_{nᵢ,j}]``:
   wrong too, through the same ``F_{nᵢ}`` where ``F_j`` belongs.)

It then says the same holds for the weights: corrected, ``∂L/∂W²_jk = Σᵢ [F_j(xᵢ) − y_ij]
a¹_k(xᵢ)``; the analogue of the printed line 3, ``Σᵢ [F_{nᵢ}(xᵢ) − y_{nᵢ}] a¹_k(xᵢ)``, is again
the same for every j, and wrong. The chapter's conclusion — a gradient linear in the error, no
slowdown — holds for the corrected lines.

Every function takes the softmax outputs ``F`` (m, 10), the labels ``labels`` (m,) and, for the
weights, the hidden activations ``a1`` (m, l), and returns ∂L/∂b² (10,) or ∂L/∂W² (10, l).
tests/lab/test_errata.py compares each line with autograd on real MNIST digits.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _label_entries(F: Tensor, labels: Tensor) -> Tensor:
    """``F_{nᵢ}(xᵢ)``: each sample's output at its label, shape (m,)."""
    return F.gather(1, labels.view(-1, 1)).squeeze(1)


def _kronecker(F: Tensor, labels: Tensor) -> Tensor:
    """``δ_{nᵢ,j}``: one-hot rows of the labels, shape (m, 10) — the same as ``y_ij``."""
    return torch.nn.functional.one_hot(labels, F.shape[1]).to(F.dtype)


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
    return -((Fn * _kronecker(F, labels) - Fn**2) / Fn).sum(dim=0)


def bias_gradient_line2(F: Tensor, labels: Tensor) -> Tensor:
    """Line 2 corrected: ``−Σᵢ (1/F_{nᵢ}) [F_{nᵢ} δ_{nᵢ,j} − F_{nᵢ} F_j]``."""
    Fn = _label_entries(F, labels).unsqueeze(1)
    return -((Fn * _kronecker(F, labels) - Fn * F) / Fn).sum(dim=0)


def bias_gradient_printed(F: Tensor, labels: Tensor) -> Tensor:
    """Line 3 as printed: ``Σᵢ [F_{nᵢ}(xᵢ) − y_{nᵢ}]`` for every j (y_{nᵢ} = 1: one-hot)."""
    value = (_label_entries(F, labels) - 1).sum()
    return value.expand(F.shape[1]).clone()


def bias_gradient(F: Tensor, labels: Tensor) -> Tensor:
    """Line 3 corrected: ``∂L/∂b_j = Σᵢ [F_j(xᵢ) − y_ij]``."""
    return (F - _kronecker(F, labels)).sum(dim=0)


def weight_gradient_printed(F: Tensor, labels: Tensor, a1: Tensor) -> Tensor:
    """The printed line 3 carried to the weights: ``Σᵢ [F_{nᵢ}(xᵢ) − y_{nᵢ}] a¹_k(xᵢ)``, the same
    row for every j."""
    row = ((_label_entries(F, labels) - 1).unsqueeze(1) * a1).sum(dim=0)
    return row.expand(F.shape[1], -1).clone()


def weight_gradient(F: Tensor, labels: Tensor, a1: Tensor) -> Tensor:
    """Corrected: ``∂L/∂W²_jk = Σᵢ [F_j(xᵢ) − y_ij] a¹_k(xᵢ)``."""
    return (F - _kronecker(F, labels)).T @ a1
