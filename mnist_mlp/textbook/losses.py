"""The chapter's loss functions, each with its gradient written beside it.

Notation (the chapter, "Training"): ``F = F(x)`` is the network's output, the activations of the
last layer, shape (m, 10) for a batch of m samples; ``y`` is the desired output, a one-hot row
per sample. Every loss is first written *per sample*, ``ℓ(F, y)``, and then reduced over the
batch:

* ``reduction="mean"``: ``L = (1/m) Σᵢ ℓ(F(xᵢ), yᵢ)``, the mini-batch mean that SGD descends
  (``mnist_mlp.textbook.sgd``), as in the runs behind the chapter's MNIST figures;
* ``reduction="sum"``: ``L = Σᵢ ℓ(F(xᵢ), yᵢ)``;
* ``reduction="none"``: the m per-sample losses.

Which reduction is the chapter's own expression differs from loss to loss, and each docstring
says so: its L2 and L1 losses carry the factor 1/(2m) (``reduction="mean"`` of ``½‖F − y‖``),
while its cross-entropy (35) and its softmax cross-entropy are written as *sums* over the
samples (``reduction="sum"``).

``target`` may be one-hot rows / probabilities of shape (m, 10) or class indices of shape (m,).

Each ``*_grad(output, target)`` returns the per-sample gradient ``∂ℓ/∂F`` (shape (m, 10)): the
``∇L`` with which the chapter's backpropagation algorithm starts (Nielsen's (BP1),
``δᴸ = ∇_F ℓ ⊙ σ'(zᴸ)``). ``LOSSES`` pairs each loss with its gradient under the names used
everywhere else in the package.

``network_loss(name, output_activation)`` is the loss of a network's output ``F = ψ(z)`` as a
function of the output layer's weighted input z: the same number as the loss of F, computed so
that autograd's gradient is finite in float32 where the loss of F would give 1/F = ∞ (the cross-
entropy (35) on a softmax: ``binary_cross_entropy_of_softmax``). The trainers use it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from .activations import Softmax, softmax_log_odds
from .names import AMBIGUOUS, LOSS_DESCRIPTIONS

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


# --- Mean square error: the chapter's L2 loss (Nielsen's quadratic cost, eq. 6) -------------


def mse_loss(output: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """The L2 loss (mean square error, quadratic cost), per sample ``ℓ = ½‖F − y‖₂²``.

    ``reduction="mean"`` gives the chapter's mean square error
    ``L = 1/(2m) Σᵢ ‖F(xᵢ) − yᵢ‖₂²`` exactly (unnumbered there; Nielsen's eq. 6, the cost of his
    quadratic-cost runs). It is ``5 ×`` ``torch.nn.functional.mse_loss``, which also averages
    over the 10 outputs and has no ½. Finite for any finite F.
    """
    y = one_hot(target, output)
    return reduce(0.5 * ((output - y) ** 2).sum(dim=-1), reduction)


def mse_grad(output: Tensor, target: Tensor) -> Tensor:
    """``∂ℓ/∂F = F − y``."""
    return output - one_hot(target, output)


# --- Mean absolute error: the chapter's L1 loss -----------------------------------------------


def mae_loss(output: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """The L1 loss (mean absolute error), per sample ``ℓ = ½‖F − y‖₁ = ½ Σ_j |F_j − y_j|``.

    ``reduction="mean"`` gives the chapter's mean absolute error
    ``L = 1/(2m) Σᵢ ‖F(xᵢ) − yᵢ‖₁`` exactly (unnumbered; with the same 1/(2m) as its L2 loss).
    It is ``5 ×`` ``torch.nn.functional.l1_loss``. Finite for any finite F.
    """
    y = one_hot(target, output)
    return reduce(0.5 * (output - y).abs().sum(dim=-1), reduction)


def mae_grad(output: Tensor, target: Tensor) -> Tensor:
    """``∂ℓ/∂F = ½ sign(F − y)`` (0 where F = y, as torch's ``abs``)."""
    return 0.5 * torch.sign(output - one_hot(target, output))


# --- Cross-entropy, the chapter's eq. (35) (Nielsen eq. 57, 63) -------------------------------


def binary_cross_entropy(output: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """The cross-entropy of eq. (35), per sample ``ℓ = −Σ_j [y_j ln F_j + (1−y_j) ln(1−F_j)]``.

    Eq. (35) is ``L_ent = −Σᵢ [yᵢ · ln F(xᵢ) + (1 − yᵢ) · ln(1 − F(xᵢ))]``, the logarithm taken
    element-wise: a *sum* over the samples and over the outputs, i.e. ``reduction="sum"``.
    ``reduction="mean"`` is (35)/m, the mini-batch mean SGD descends, which is Nielsen's
    cross-entropy cost (eq. 57, eq. 63 for many outputs: ``C = −(1/n) Σ_x Σ_j [...]``). Both
    terms are kept, whatever the output layer: the chapter's MNIST recipe puts (35) on a
    *softmax* output, its derivation on a sigmoid one. Per-sample it is ``10 ×``
    ``torch.nn.functional.binary_cross_entropy``, which averages over the outputs too.
    ``ln`` is clamped at −100 (see ``clamped_log``), as torch does, so F = 0 or 1 gives a finite
    loss and a finite gradient.
    """
    y = one_hot(target, output)
    per_output = y * clamped_log(output) + (1 - y) * clamped_log(1 - output)
    return reduce(-per_output.sum(dim=-1), reduction)


def binary_cross_entropy_grad(output: Tensor, target: Tensor) -> Tensor:
    """``∂ℓ/∂F_j = −y_j/F_j + (1 − y_j)/(1 − F_j) = (F_j − y_j) / (F_j(1 − F_j))``.

    This is the chapter's ``∂L/∂F = (F − y)/(F(1 − F))``, from which it recovers (35) by
    integrating over F ("backward engineering"; measured by ``scripts/claims.py``). Times the
    sigmoid's ``σ'(z) = F(1 − F)`` it gives ``δ = F − y``: no ``σ'`` factor, hence no learning
    slowdown — the chapter's (36) and (37) (Nielsen eq. 61–62).
    """
    y = one_hot(target, output)
    return -y * clamped_log_grad(output) + (1 - y) * clamped_log_grad(1 - output)


# --- The first term of (35) alone: Nielsen's log-likelihood (eq. 80) ------------------------


def log_likelihood(output: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """The first term of (35) alone, per sample ``ℓ = −y · ln F = −Σ_j y_j ln F_j``.

    The chapter writes it, unnumbered, for a softmax output "for the shortness of
    presentation": ``L = −Σᵢ yᵢ · ln F(xᵢ)``, for one-hot labels ``−Σᵢ ln F_{nᵢ}(xᵢ)`` with nᵢ
    the label of sample i — a *sum* over the samples, i.e. ``reduction="sum"``;
    ``reduction="mean"`` is that over m, the mini-batch mean SGD descends. Three names for one
    function: the chapter's "first term" of the cross-entropy, Nielsen's log-likelihood cost
    ``−ln F_y`` (eq. 80), and PyTorch's ``torch.nn.functional.cross_entropy`` of the logits
    (equal to ``nll_loss(torch.log(F), labels)`` with the same reduction). It is *not* (35):
    the chapter's recipe for MNIST is ``binary_cross_entropy``, both terms, on a softmax.
    ``ln`` is clamped at −100, so F = 0 gives a finite loss and gradient.
    """
    y = one_hot(target, output)
    return reduce(-(y * clamped_log(output)).sum(dim=-1), reduction)


def log_likelihood_grad(output: Tensor, target: Tensor) -> Tensor:
    """``∂ℓ/∂F_j = −y_j / F_j``.

    Through the softmax Jacobian this becomes ``δ = F − y`` (Nielsen eq. 81–82), so that the
    summed output-bias gradient is ``∂L/∂b_j = Σᵢ [F_j(xᵢ) − y_ij]``. The chapter's derivation
    of that gradient ends with ``Σᵢ [F_{nᵢ}(xᵢ) − y_{nᵢ}]`` instead, which does not depend on j:
    an erratum, shown in ``mnist_mlp.textbook.softmax_gradient`` and tests/lab/test_errata.py.
    """
    return -one_hot(target, output) * clamped_log_grad(output)


class Loss(NamedTuple):
    """A loss function ``fn(output, target, reduction)``, its per-sample gradient ``∂ℓ/∂F``, and
    what it is in words (for help texts and the first line of a run)."""

    fn: Callable[..., Tensor]
    grad: Callable[[Tensor, Tensor], Tensor]
    description: str


LOSSES: dict[str, Loss] = {
    "binary_cross_entropy": Loss(binary_cross_entropy, binary_cross_entropy_grad,
                                 LOSS_DESCRIPTIONS["binary_cross_entropy"]),
    "log_likelihood": Loss(log_likelihood, log_likelihood_grad,
                           LOSS_DESCRIPTIONS["log_likelihood"]),
    "mse": Loss(mse_loss, mse_grad, LOSS_DESCRIPTIONS["mse"]),
    "mae": Loss(mae_loss, mae_grad, LOSS_DESCRIPTIONS["mae"]),
}
"""The losses by name (``names.LOSS_NAMES``, in order); the first is the chapter's recipe for
MNIST, the default."""


# --- The loss of a network's output, from the output layer's weighted input z ---------------


def binary_cross_entropy_of_softmax(z: Tensor, target: Tensor, reduction: str = "mean"
                                    ) -> Tensor:
    """The cross-entropy (35) of the softmax outputs ``F = softmax(z)``, computed from z.

    The same number as ``binary_cross_entropy(softmax(z), target, reduction)``: with the
    log-odds ``d_j = z_j − ln Σ_{i≠j} e^(z_i)`` (``activations.softmax_log_odds``), F_j = σ(d_j)
    and 1 − F_j = σ(−d_j), so that (35) is the cross-entropy of sigmoid outputs of d,

        ℓ = −Σ_j [y_j ln σ(d_j) + (1 − y_j) ln σ(−d_j)],

    both logarithms taken by ``logsigmoid`` and clamped at −100 as in ``binary_cross_entropy``.
    Autograd's gradient of it is then the fused output error of
    ``mnist_mlp.textbook.backprop.softmax_cross_entropy_error`` — finite in float32, where through
    the loss of F it is 1/F_j times the softmax Jacobian: infinite once F_j is below
    2.9·10⁻³⁹, which e^(−100) (a subnormal float32) is far below.
    """
    y = one_hot(target, z)
    d = softmax_log_odds(z)
    log_F, log_one_minus_F = nn.functional.logsigmoid(d), nn.functional.logsigmoid(-d)
    per_output = y * log_F.clamp(min=LOG_FLOOR) + (1 - y) * log_one_minus_F.clamp(min=LOG_FLOOR)
    return reduce(-per_output.sum(dim=-1), reduction)


def network_loss(name: str, output_activation: nn.Module) -> Callable[..., Tensor]:
    """The loss ``name`` of a network's output ``F = ψ(z)``, ψ being ``output_activation``, as a
    function ``loss(z, target, reduction="mean", F=None)`` of the output layer's weighted input
    z (``F``: ψ(z) where the caller has it already, not to compute it again).

    Its value is ``get_loss(name).fn(ψ(z), target, reduction)``. For the cross-entropy (35) on a
    softmax it is ``binary_cross_entropy_of_softmax``, computed from z in log space, so that
    its gradient stays finite in float32. Every other loss is computed from ψ(z) as written,
    its arithmetic as it always was. (For the sigmoid + (35) and softmax + log-likelihood pairs
    autograd still forms ∂ℓ/∂F = −y/F, infinite in float32 for an F_y between e^(−100) and
    2.9·10⁻³⁹, where the engine's δ = F − y is finite.)
    """
    if name == "binary_cross_entropy" and isinstance(output_activation, Softmax):
        return lambda z, target, reduction="mean", F=None: binary_cross_entropy_of_softmax(
            z, target, reduction)
    fn = get_loss(name).fn

    def loss_of_output(z: Tensor, target: Tensor, reduction: str = "mean",
                       F: Tensor | None = None) -> Tensor:
        return fn(output_activation(z) if F is None else F, target, reduction)

    return loss_of_output



def get_loss(name: str) -> Loss:
    """The ``Loss`` called ``name``; an unknown name is a ValueError listing the choices."""
    if name in AMBIGUOUS:
        raise ValueError(f"unknown loss {name!r}: {AMBIGUOUS[name]}")
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    return LOSSES[name]
