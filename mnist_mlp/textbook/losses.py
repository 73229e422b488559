"""The chapter's losses, each with its gradient written beside it.

Each loss of the output F (m, 10) and the desired output y (rows, or class indices (m,)) is
written per sample, ``ℓ(F, y)``, then reduced: "mean" (what SGD descends), "sum" or "none".
Each ``*_grad`` is the per-sample ``∂ℓ/∂F``, where backpropagation starts; ``LOSSES`` pairs them
by name; ``network_loss`` takes a loss from the weighted input z. More: docs/textbook.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.functional import log_softmax, logsigmoid

from .activations import Sigmoid, Softmax, softmax_log_odds
from .names import AMBIGUOUS, LOSS_DESCRIPTIONS

LOG_FLOOR = -100.0
"""``ln F`` is clamped from below at −100, as ``torch.nn.functional.binary_cross_entropy`` does."""
F_FLOOR = math.exp(LOG_FLOOR)
"""``e^(−100)``: F is clamped from below here before its logarithm is taken."""
REDUCTIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "mean": torch.mean, "sum": torch.sum, "none": lambda per_sample: per_sample}


def one_hot(target: Tensor, like: Tensor) -> Tensor:
    """The desired output ``y`` as rows shaped and typed like ``like``: class indices (m,)
    become one-hot rows, rows (m, 10) are cast."""
    if target.dim() == 1 and not target.is_floating_point():
        return torch.nn.functional.one_hot(target, like.shape[-1]).to(like.dtype)
    if target.shape != like.shape:
        raise ValueError(f"target of shape {tuple(target.shape)} does not fit output of shape "
                         f"{tuple(like.shape)}: give class indices (m,) or rows (m, 10)")
    return target.to(like.dtype)


def reduce(per_sample: Tensor, reduction: str) -> Tensor:
    """Apply ``reduction`` ("mean", "sum" or "none") over the batch dimension."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; choose one of {', '.join(REDUCTIONS)}")
    return REDUCTIONS[reduction](per_sample)


def clamped_log(F: Tensor) -> Tensor:
    """``ln max(F, e^(−100)) = max(ln F, −100)``, torch's clamp: finite at F = 0 (in float32
    e^(−100) is subnormal and the floor −99.98)."""
    return torch.log(F.clamp(min=F_FLOOR))


def clamped_log_grad(F: Tensor) -> Tensor:
    """``d clamped_log(F) / dF``: ``1/F`` where F ≥ e^(−100), else 0."""
    return (F >= F_FLOOR).to(F.dtype) / F.clamp(min=F_FLOOR)


def mse_loss(output: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """The L2 loss (mean square error, quadratic cost), per sample ``ℓ = ½‖F − y‖₂²``; "mean"
    is the chapter's ``L = 1/(2m) Σᵢ ‖F(xᵢ) − yᵢ‖₂²`` (unnumbered; Nielsen eq. 6), ``5 ×``
    torch's ``mse_loss`` (which averages over the 10 outputs, no ½)."""
    y = one_hot(target, output)
    return reduce(0.5 * ((output - y) ** 2).sum(dim=-1), reduction)


def mse_grad(output: Tensor, target: Tensor) -> Tensor:
    """``∂ℓ/∂F = F − y``."""
    return output - one_hot(target, output)


def mae_loss(output: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """The L1 loss (mean absolute error), per sample ``ℓ = ½‖F − y‖₁ = ½ Σ_j |F_j − y_j|``;
    "mean" is the chapter's ``L = 1/(2m) Σᵢ ‖F(xᵢ) − yᵢ‖₁`` (unnumbered, the 1/(2m) of its L2
    loss), ``5 ×`` torch's ``l1_loss``."""
    y = one_hot(target, output)
    return reduce(0.5 * (output - y).abs().sum(dim=-1), reduction)


def mae_grad(output: Tensor, target: Tensor) -> Tensor:
    """``∂ℓ/∂F = ½ sign(F − y)`` (0 where F = y, as torch's ``abs``)."""
    return 0.5 * torch.sign(output - one_hot(target, output))


def binary_cross_entropy(output: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """The cross-entropy of eq. (35), per sample ``ℓ = −Σ_j [y_j ln F_j + (1−y_j) ln(1−F_j)]``.

    Eq. (35) is ``L_ent = −Σᵢ [yᵢ · ln F(xᵢ) + (1 − yᵢ) · ln(1 − F(xᵢ))]``, ln element-wise: a
    *sum* over samples and outputs, ``reduction="sum"``; "mean" is (35)/m, Nielsen's
    cross-entropy cost (eq. 57, 63). Both terms are kept on any output layer: the chapter's MNIST
    recipe puts (35) on a *softmax*. Per sample ``10 ×`` torch's ``binary_cross_entropy``; ln
    clamped at −100 as there (``clamped_log``), so F = 0 or 1 stays finite.
    """
    y = one_hot(target, output)
    per_output = y * clamped_log(output) + (1 - y) * clamped_log(1 - output)
    return reduce(-per_output.sum(dim=-1), reduction)


def binary_cross_entropy_grad(output: Tensor, target: Tensor) -> Tensor:
    """``∂ℓ/∂F_j = −y_j/F_j + (1 − y_j)/(1 − F_j) = (F_j − y_j) / (F_j(1 − F_j))``: the chapter's
    ``∂L/∂F = (F − y)/(F(1 − F))``, integrated to recover (35) ("backward engineering"). Times
    the sigmoid's ``σ'(z) = F(1 − F)`` it is ``δ = F − y``, the chapter's (36), (37): no slowdown.
    """
    y = one_hot(target, output)
    return -y * clamped_log_grad(output) + (1 - y) * clamped_log_grad(1 - output)


def log_likelihood(output: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """The first term of (35) alone, per sample ``ℓ = −y · ln F = −Σ_j y_j ln F_j``.

    The chapter's, for a softmax output, is a *sum* (``reduction="sum"``): ``L = −Σᵢ yᵢ ·
    ln F(xᵢ) = −Σᵢ ln F_{nᵢ}(xᵢ)``, nᵢ the label of sample i. Also Nielsen's log-likelihood
    (eq. 80) and PyTorch's ``cross_entropy`` of the logits; *not* (35), which the chapter calls
    the negative log-likelihood too: it is that of independent sigmoid outputs, this that of a
    softmax output. ln clamped at −100.
    """
    y = one_hot(target, output)
    return reduce(-(y * clamped_log(output)).sum(dim=-1), reduction)


def log_likelihood_grad(output: Tensor, target: Tensor) -> Tensor:
    """``∂ℓ/∂F_j = −y_j / F_j``; through the softmax Jacobian ``δ = F − y`` (Nielsen eq. 81–82),
    so ``∂L/∂b_j = Σᵢ [F_j(xᵢ) − y_ij]``, where the chapter prints ``Σᵢ [F_{nᵢ}(xᵢ) − y_{nᵢ}]``,
    the same for every j (an erratum: ``softmax_gradient``)."""
    return -one_hot(target, output) * clamped_log_grad(output)


class Loss(NamedTuple):
    """A loss ``fn(output, target, reduction)``, its per-sample ``∂ℓ/∂F``, and it in words."""

    fn: Callable[..., Tensor]
    grad: Callable[[Tensor, Tensor], Tensor]
    description: str


LOSSES: dict[str, Loss] = {name: Loss(fn, grad, LOSS_DESCRIPTIONS[name]) for name, fn, grad in (
    ("binary_cross_entropy", binary_cross_entropy, binary_cross_entropy_grad),
    ("log_likelihood", log_likelihood, log_likelihood_grad),
    ("mse", mse_loss, mse_grad), ("mae", mae_loss, mae_grad))}
"""The losses by name, in the order of ``names.LOSS_NAMES`` (the first the default)."""


def cross_entropy_of_logs(log_F: Tensor, log_one_minus_F: Tensor, target: Tensor,
                          reduction: str = "mean") -> Tensor:
    """(35) from the logarithms themselves, per sample ``ℓ = −Σ_j [y_j ln F_j + (1 − y_j)
    ln(1 − F_j)]``, each ln clamped at −100 in log space."""
    y = one_hot(target, log_F)
    per_output = y * log_F.clamp(min=LOG_FLOOR) + (1 - y) * log_one_minus_F.clamp(min=LOG_FLOOR)
    return reduce(-per_output.sum(dim=-1), reduction)


def binary_cross_entropy_of_sigmoid(z: Tensor, target: Tensor, reduction: str = "mean"
                                    ) -> Tensor:
    """``binary_cross_entropy(σ(z), target, reduction)`` from z: ln F_j = ln σ(z_j) and
    ln(1 − F_j) = ln σ(−z_j), each a ``logsigmoid``, right where F_j rounds to 0 or 1."""
    return cross_entropy_of_logs(logsigmoid(z), logsigmoid(-z), target, reduction)


def binary_cross_entropy_of_softmax(z: Tensor, target: Tensor, reduction: str = "mean"
                                    ) -> Tensor:
    """``binary_cross_entropy(softmax(z), target, reduction)``, the cross-entropy (35), from z:
    with the log-odds d = ``softmax_log_odds(z)``, F_j = σ(d_j) and 1 − F_j = σ(−d_j), so

        ℓ = −Σ_j [y_j ln σ(d_j) + (1 − y_j) ln σ(−d_j)],

    each ln a ``logsigmoid`` clamped at −100. Its gradient (autograd's) is finite in float32:
    ``backprop.softmax_cross_entropy_error``."""
    d = softmax_log_odds(z)
    return cross_entropy_of_logs(logsigmoid(d), logsigmoid(-d), target, reduction)


def log_likelihood_of_logs(log_F: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """The log-likelihood from the logarithms themselves, per sample ``ℓ = −Σ_j y_j ln F_j``,
    ln clamped at −100 in log space."""
    return reduce(-(one_hot(target, log_F) * log_F.clamp(min=LOG_FLOOR)).sum(dim=-1), reduction)


def log_likelihood_of_softmax(z: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """``log_likelihood(softmax(z), target, reduction)`` from z: ln F = ``log_softmax(z)``,
    right where F_{nᵢ} is a subnormal float or 0."""
    return log_likelihood_of_logs(log_softmax(z, dim=-1), target, reduction)


def log_likelihood_of_sigmoid(z: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """``log_likelihood(σ(z), target, reduction)`` from z: ln F = ``logsigmoid(z)``, right
    where F_{nᵢ} rounds to 0."""
    return log_likelihood_of_logs(logsigmoid(z), target, reduction)


OF_Z: dict[tuple[type, str], Callable[..., Tensor]] = {
    (Softmax, "binary_cross_entropy"): binary_cross_entropy_of_softmax,
    (Sigmoid, "binary_cross_entropy"): binary_cross_entropy_of_sigmoid,
    (Softmax, "log_likelihood"): log_likelihood_of_softmax,
    (Sigmoid, "log_likelihood"): log_likelihood_of_sigmoid}
"""The losses that take a logarithm, taken from z in log space, by output activation and name:
their (BP1) never forms ∂ℓ/∂F (``backprop.output_error``), so that autograd does not either."""


def network_loss(name: str, output_activation: nn.Module) -> Callable[..., Tensor]:
    """The loss ``name`` of ``F = ψ(z)`` (ψ ``output_activation``) as ``loss(z, target,
    reduction="mean", F=None)`` of the weighted input z (``F``: ψ(z) if known): its value
    ``get_loss(name).fn(ψ(z), target, reduction)``; a loss with a logarithm (``OF_Z``) is taken
    from z in log space, where through F float32 makes 1/F infinite (F below about 2.9·10⁻³⁹)
    or 1 − F zero, and autograd's gradient infinite or 0 (docs/textbook.md)."""
    of_z = OF_Z.get((type(output_activation), name))
    if of_z is not None:
        return lambda z, target, reduction="mean", F=None: of_z(z, target, reduction)
    fn = get_loss(name).fn
    return lambda z, target, reduction="mean", F=None: fn(
        output_activation(z) if F is None else F, target, reduction)


def get_loss(name: str) -> Loss:
    """The ``Loss`` called ``name``; an unknown name is a ValueError listing the choices."""
    if name in AMBIGUOUS:
        raise ValueError(f"unknown loss {name!r}: {AMBIGUOUS[name]}")
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    return LOSSES[name]
