"""Backpropagation written out by hand: the chapter's algorithm, no autograd.

For the 784-l-10 network (``mnist_mlp.textbook.model``), with ``a⁰ = x``, ``z¹ = W¹a⁰ + b¹``,
``a¹ = φ(z¹)``, ``z² = W²a¹ + b²``, ``F = a² = ψ(z²)``.

The chapter's algorithm (unnumbered, "Backpropagation") calls a layer's weighted input q and its
output z (our z and a), its activation g, and the whole layer f: ``z⁽ᵏ⁾ = f⁽ᵏ⁾(z⁽ᵏ⁻¹⁾) =
g⁽ᵏ⁾(q⁽ᵏ⁾)`` with ``q⁽ᵏ⁾ = W⁽ᵏ⁾z⁽ᵏ⁻¹⁾ + b⁽ᵏ⁾``. It multiplies Jacobians from the loss
backwards,

    ∂L/∂θ⁽ᵏ⁾ = (∇L)ᵀ Df⁽ⁿ⁾ ⋯ Df⁽ᵏ⁺¹⁾ Dg⁽ᵏ⁾ ∂q⁽ᵏ⁾/∂θ⁽ᵏ⁾,   Df⁽ˡ⁾ = Dg⁽ˡ⁾ W⁽ˡ⁾,

and ``∂q_i/∂W_ij = z_j`` of the layer below, ``∂q_i/∂b_i = 1``. Evaluated from the left, as
vector–Jacobian products, the running product is δˡ = ∂L/∂zˡ, and the chapter's algorithm is
the four equations of Nielsen (ch. 2):

* (BP1) output error:         δ² = J_ψ(z²)ᵀ ∇_F L       — (∇L)ᵀ Dg⁽ⁿ⁾
  (= ∇_F L ⊙ ψ'(z²) for sigmoid)
* (BP2) error one layer down: δ¹ = J_φ(z¹)ᵀ (W²)ᵀ δ²   — one more factor Df⁽ᵏ⁺¹⁾ = Dg W
  (= ((W²)ᵀδ²) ⊙ φ'(z¹))
* (BP3) bias gradients:       ∂L/∂bˡ = δˡ               — ∂q/∂b = 1
* (BP4) weight gradients:     ∂L/∂Wˡ = δˡ (aˡ⁻¹)ᵀ       — ∂q_i/∂W_ij = z_j⁽ᵏ⁻¹⁾

With a batch, samples are rows: δˡ has shape (m, nˡ) and (BP3), (BP4) sum over the rows. The
Jacobians ``Dg`` appear only as vector–Jacobian products ``J_ψᵀ`` and ``J_φᵀ``, the activations'
``backward`` methods (``mnist_mlp.textbook.activations``); ``∇_F L`` is the loss's ``grad``
(``mnist_mlp.textbook.losses``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .losses import get_loss
from .model import MLP


@torch.no_grad()
def gradients(model: MLP, x: Tensor, target: Tensor, loss: str = "binary_cross_entropy",
              reduction: str = "mean") -> dict[str, Tensor]:
    """∂L/∂θ for every parameter θ of ``model``: the chapter's backpropagation algorithm, as
    the four equations (BP1)–(BP4).

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
