"""Backpropagation written out by hand: the textbook's four equations, no autograd.

For the 784-l-10 network (``mnist_mlp.textbook.model``), with ``a⁰ = x``, ``z¹ = W¹a⁰ + b¹``,
``a¹ = φ(z¹)``, ``z² = W²a¹ + b²``, ``F = a² = ψ(z²)``, and δˡ = ∂L/∂zˡ (Nielsen, ch. 2):

* (BP1) output error:       δ² = J_ψ(z²)ᵀ ∇_F L          (= ∇_F L ⊙ ψ'(z²) for sigmoid)
* (BP2) error one layer down: δ¹ = J_φ(z¹)ᵀ (W²)ᵀ δ²     (= ((W²)ᵀδ²) ⊙ φ'(z¹))
* (BP3) bias gradients:      ∂L/∂bˡ = δˡ
* (BP4) weight gradients:    ∂L/∂Wˡ = δˡ (aˡ⁻¹)ᵀ

With a batch, samples are rows: δˡ has shape (m, nˡ) and (BP3), (BP4) sum over the rows. The
vector–Jacobian products ``J_ψᵀ`` and ``J_φᵀ`` are the activations' ``backward`` methods
(``mnist_mlp.textbook.activations``); ``∇_F L`` is the loss's ``grad``
(``mnist_mlp.textbook.losses``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .losses import get_loss
from .model import MLP


@torch.no_grad()
def gradients(model: MLP, x: Tensor, target: Tensor, loss: str = "cross_entropy",
              reduction: str = "mean") -> dict[str, Tensor]:
    """∂L/∂θ for every parameter θ of ``model``, by the four equations of backpropagation.

    Args:
        model: the network.
        x: images, (m, 784), (m, 28, 28) or (m, 1, 28, 28).
        target: class indices (m,) or desired outputs (m, 10).
        loss: a name in ``mnist_mlp.textbook.losses.LOSSES``.
        reduction: "mean" (L is the mini-batch mean, the SGD objective) or "sum".

    Returns:
        ``{"hidden.weight", "hidden.bias", "output.weight", "output.bias"}`` → gradient, keyed
        and shaped like ``model.named_parameters()``.
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum' for gradients, got {reduction!r}")
    W1, b1 = model.hidden.weight, model.hidden.bias
    W2, b2 = model.output.weight, model.output.bias

    # Forward pass, keeping every layer's activation.
    a0 = model.flatten(x).to(W1.dtype)
    a1 = model.activation(a0 @ W1.T + b1)
    F = model.output_activation(a1 @ W2.T + b2)

    # ∇_F L: the per-sample gradient ∂ℓ/∂F, over m for the mini-batch mean.
    grad_F = get_loss(loss).grad(F, target)
    if reduction == "mean":
        grad_F = grad_F / a0.shape[0]

    delta2 = model.output_activation.backward(F, grad_F)  # (BP1)
    delta1 = model.activation.backward(a1, delta2 @ W2)   # (BP2)
    return {
        "hidden.weight": delta1.T @ a0,   # (BP4)
        "hidden.bias": delta1.sum(dim=0),  # (BP3)
        "output.weight": delta2.T @ a1,   # (BP4)
        "output.bias": delta2.sum(dim=0),  # (BP3)
    }
