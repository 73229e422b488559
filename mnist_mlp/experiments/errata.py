"""The chapter's errors, measured: its softmax-gradient derivation on real digits, and the
arithmetic of its "1 in 14".

``softmax_derivation_check`` takes a mini-batch of MNIST digits and a softmax network and sets
autograd's ∂L/∂b² and ∂L/∂W² of the summed softmax cross-entropy beside each line of the
chapter's derivation, as printed and corrected (``mnist_mlp.textbook.softmax_gradient``).
``errors_removed`` is the share of wrongly classified test images that one accuracy removes
against another: the chapter's 96.59 % → 96.82 % for l = 100 removes 1 in 14.8, where it says
about 1 in 14.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor

from ..textbook import softmax_gradient as derivation
from ..textbook.losses import log_likelihood
from ..textbook.model import MLP
from .configurations import configuration

BIAS_LINES = {
    "line 1 (chain rule)": derivation.bias_gradient_line1,
    "line 2 as printed (F_n² term)": derivation.bias_gradient_line2_printed,
    "line 2 corrected (F_n F_j term)": derivation.bias_gradient_line2,
    "line 3 as printed, Σᵢ[F_nᵢ − y_nᵢ]": derivation.bias_gradient_printed,
    "line 3 corrected, Σᵢ[F_j − y_ij]": derivation.bias_gradient,
}
"""The lines of the chapter's derivation of ∂L/∂b², by name."""
WEIGHT_LINES = {
    "as printed, Σᵢ[F_nᵢ − y_nᵢ] a¹_k": derivation.weight_gradient_printed,
    "corrected, Σᵢ[F_j − y_ij] a¹_k": derivation.weight_gradient,
}
"""The chapter's "the same for the weights", carried out both ways, for ∂L/∂W²."""


@dataclass(frozen=True)
class DerivationCheck:
    """Each line of the derivation against autograd on one mini-batch, in float64."""

    network: str
    batch_size: int
    bias_scale: float  # the largest |∂L/∂b²_j| from autograd
    weight_scale: float  # the largest |∂L/∂W²_jk| from autograd
    bias: dict[str, float]  # line → max |line − autograd| over j
    weight: dict[str, float]  # line → max |line − autograd| over j, k


def softmax_derivation_check(images: Tensor, labels: Tensor, model: MLP | None = None, *,
                             batch_size: int = 10, seed: int = 0) -> DerivationCheck:
    """Autograd's output-layer gradients of ``log_likelihood(F, labels, "sum")`` on the first
    ``batch_size`` of ``images`` (N, 784) and ``labels``, against every line of the chapter's
    derivation; for ``model`` (a copy, softmax output) or a fresh l = 30 softmax network with
    N(0, 1) weights seeded with ``seed`` (the reproduction's initialisation)."""
    if model is None:
        torch.manual_seed(seed)
        model = MLP(30, "sigmoid", "softmax", "normal")
    if model.output_activation_name != "softmax":
        raise ValueError("the chapter's derivation is for a softmax output layer")
    if len(images) < batch_size:
        raise ValueError(f"a mini-batch of {batch_size} needs {batch_size} images, "
                         f"got {len(images)}")
    model = copy.deepcopy(model).to("cpu", torch.float64)
    x = images[:batch_size].to("cpu", torch.float64)
    y = labels[:batch_size].to("cpu")
    F = model(x)
    log_likelihood(F, y, reduction="sum").backward()
    F, a1 = F.detach(), model.hidden_activations(x).detach()
    db, dW = model.output.bias.grad, model.output.weight.grad
    return DerivationCheck(
        network=f"l = {model.hidden_size} softmax network",
        batch_size=batch_size,
        bias_scale=float(db.abs().max()), weight_scale=float(dW.abs().max()),
        bias={name: float((line(F, y) - db).abs().max()) for name, line in BIAS_LINES.items()},
        weight={name: float((line(F, y, a1) - dW).abs().max())
                for name, line in WEIGHT_LINES.items()})


def errors_removed(before: float, after: float) -> float:
    """The share of the wrongly classified images at accuracy ``before`` that are right at
    ``after``: ``((1 − before) − (1 − after)) / (1 − before)``."""
    if not 0 <= before < 1:
        raise ValueError(f"accuracy before must lie in [0, 1), got {before}")
    return (after - before) / (1 - before)


@dataclass(frozen=True)
class OneIn:
    """The chapter's l = 100 figures and what going from one to the other removes."""

    quadratic: float
    cross_entropy: float
    share: float  # of the quadratic cost's errors, removed by the cross-entropy
    one_in: float  # 1 / share


def chapter_one_in() -> OneIn:
    """The chapter's "1 in 14", recomputed from its own figures (96.59 % → 96.82 %)."""
    before = configuration("l100-quadratic").textbook
    after = configuration("l100-cross_entropy").textbook
    assert before is not None and after is not None  # the chapter quotes both
    share = errors_removed(before, after)
    return OneIn(before, after, share, 1 / share)
