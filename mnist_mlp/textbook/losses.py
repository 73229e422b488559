"""The textbook's loss functions, each with its gradient written beside it.

Notation (Nielsen, *Neural Networks and Deep Learning*): ``F = F(x)`` is the network's output,
the activations of the last layer, shape (m, 10) for a batch of m samples; ``y`` is the desired
output, a one-hot row per sample. Every loss is first written *per sample*, ``ℓ(F, y)``, and then
reduced over the batch:

* ``reduction="mean"``: ``L = (1/m) Σ_x ℓ(F(x), y(x))``, the mini-batch mean that SGD descends;
* ``reduction="sum"``: ``L = Σ_x ℓ(F(x), y(x))``;
* ``reduction="none"``: the m per-sample losses.

``target`` may be one-hot rows / probabilities of shape (m, 10) or class indices of shape (m,).

Each ``*_grad(output, target)`` returns the per-sample gradient ``∂ℓ/∂F`` (shape (m, 10)): the
first factor of backpropagation's (BP1), ``δᴸ = ∇_F ℓ ⊙ σ'(zᴸ)``. ``LOSSES`` pairs each
loss with its gradient under the names used everywhere else in the package.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

LOG_FLOOR = -100.0
"""``ln F`` is clamped from below at −100, as ``torch.nn.functional.binary_cross_entropy`` does."""
F_FLOOR = math.exp(LOG_FLOOR)
"""``e^(−100)``: F is clamped from below here before its logarithm is taken."""

REDUCTIONS = ("mean", "sum", "none")


def one_hot(target: Tensor, like: Tensor) -> Tensor:
    """The desired output ``y`` as rows of the shape and dtype of ``like``.

    Class indices (m,) become one-hot rows; rows (m, 10) are returned as they are (cast).
    """
    if target.dim() == 1 and not target.is_floating_point():
        return torch.nn.functional.one_hot(target, like.shape[-1]).to(like.dtype)
    if target.shape != like.shape:
        raise ValueError(f"target of shape {tuple(target.shape)} does not fit output of shape "
                         f"{tuple(like.shape)}: give class indices (m,) or rows (m, 10)")
    return target.to(like.dtype)


def reduce(per_sample: Tensor, reduction: str) -> Tensor:
    """Apply ``reduction`` ("mean", "sum" or "none") over the batch dimension."""
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    if reduction == "none":
        return per_sample
    raise ValueError(f"unknown reduction {reduction!r}; choose one of {', '.join(REDUCTIONS)}")


def clamped_log(F: Tensor) -> Tensor:
    """``ln max(F, e^(−100))``: finite at F = 0, with gradient ``1/F`` where F ≥ e^(−100), else 0.

    That is ``max(ln F, −100)``, torch's own clamp (in float32 e^(−100) is a subnormal number
    and the floor comes out as −99.98).
    """
    return torch.log(F.clamp(min=F_FLOOR))


def clamped_log_grad(F: Tensor) -> Tensor:
    """``d clamped_log(F) / dF``: ``1/F`` where F ≥ e^(−100), else 0."""
    return (F >= F_FLOOR).to(F.dtype) / F.clamp(min=F_FLOOR)


# --- Mean squared error (the quadratic cost), Nielsen eq. (6) --------------------------------


def mse_loss(output: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Quadratic cost, per sample ``ℓ = ½‖F − y‖₂²``.

    With ``reduction="mean"`` this is the textbook's ``C = 1/(2m) Σ_x ‖y(x) − F(x)‖²``
    (Nielsen eq. 6); it is ``5 ×`` ``torch.nn.functional.mse_loss``, which also averages over the
    10 outputs and has no ½. Finite for any finite F.
    """
    y = one_hot(target, output)
    return reduce(0.5 * ((output - y) ** 2).sum(dim=-1), reduction)


def mse_grad(output: Tensor, target: Tensor) -> Tensor:
    """``∂ℓ/∂F = F − y``."""
    return output - one_hot(target, output)


# --- Mean absolute error -----------------------------------------------------------------------


def mae_loss(output: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Absolute cost, per sample ``ℓ = ½‖F − y‖₁ = ½ Σ_j |F_j − y_j|``.

    With ``reduction="mean"`` this is ``1/(2m) Σ_x ‖F(x) − y(x)‖₁``; it is ``5 ×``
    ``torch.nn.functional.l1_loss``. Finite for any finite F.
    """
    y = one_hot(target, output)
    return reduce(0.5 * (output - y).abs().sum(dim=-1), reduction)


def mae_grad(output: Tensor, target: Tensor) -> Tensor:
    """``∂ℓ/∂F = ½ sign(F − y)`` (0 where F = y, as torch's ``abs``)."""
    return 0.5 * torch.sign(output - one_hot(target, output))


# --- Binary cross-entropy, Nielsen eq. (57) per sample; eq. (63) summed over outputs ------------


def binary_cross_entropy(output: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Cross-entropy of independent sigmoid outputs, ``ℓ = −Σ_j [y_j ln F_j + (1−y_j) ln(1−F_j)]``.

    This is Nielsen's cross-entropy cost (eq. 57, and eq. 63 for many outputs); the textbook writes
    ``C = −(1/n) Σ_x Σ_j [...]``, i.e. ``reduction="mean"`` over samples and a *sum* over the 10
    outputs — ``10 ×`` ``torch.nn.functional.binary_cross_entropy``, which averages over both.
    ``ln`` is clamped at −100 (see ``clamped_log``), as torch does, so F = 0 or 1 gives a finite
    loss and a finite gradient.
    """
    y = one_hot(target, output)
    per_output = y * clamped_log(output) + (1 - y) * clamped_log(1 - output)
    return reduce(-per_output.sum(dim=-1), reduction)


def binary_cross_entropy_grad(output: Tensor, target: Tensor) -> Tensor:
    """``∂ℓ/∂F_j = −y_j/F_j + (1 − y_j)/(1 − F_j) = (F_j − y_j) / (F_j(1 − F_j))``.

    Times the sigmoid's ``σ'(z) = F(1 − F)`` this gives ``δ = F − y``: no ``σ'`` factor, hence no
    learning slowdown (Nielsen eq. 61).
    """
    y = one_hot(target, output)
    return -y * clamped_log_grad(output) + (1 - y) * clamped_log_grad(1 - output)


# --- Softmax cross-entropy (log-likelihood), Nielsen eq. (80) ----------------------------------


def cross_entropy(output: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Cross-entropy of a probability vector, ``ℓ = −y · ln F = −Σ_j y_j ln F_j``.

    For one-hot ``y`` it is the log-likelihood cost ``−ln F_y`` of a softmax output (Nielsen
    eq. 80), written per sample as a sum over outputs. It equals
    ``torch.nn.functional.nll_loss(torch.log(F), labels)`` with the same reduction (and
    ``torch.nn.functional.cross_entropy`` of the logits). ``ln`` is clamped at −100, so F = 0
    gives a finite loss and gradient.
    """
    y = one_hot(target, output)
    return reduce(-(y * clamped_log(output)).sum(dim=-1), reduction)


def cross_entropy_grad(output: Tensor, target: Tensor) -> Tensor:
    """``∂ℓ/∂F_j = −y_j / F_j``.

    Through the softmax Jacobian this becomes ``δ = F − y`` (Nielsen eq. 81–82).
    """
    return -one_hot(target, output) * clamped_log_grad(output)


class Loss(NamedTuple):
    """A loss function ``fn(output, target, reduction)`` and its per-sample gradient ``∂ℓ/∂F``."""

    fn: Callable[..., Tensor]
    grad: Callable[[Tensor, Tensor], Tensor]


LOSSES: dict[str, Loss] = {
    "mse": Loss(mse_loss, mse_grad),
    "mae": Loss(mae_loss, mae_grad),
    "binary_cross_entropy": Loss(binary_cross_entropy, binary_cross_entropy_grad),
    "cross_entropy": Loss(cross_entropy, cross_entropy_grad),
}


def get_loss(name: str) -> Loss:
    """The ``Loss`` called ``name``; an unknown name is a ValueError listing the choices."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    return LOSSES[name]
