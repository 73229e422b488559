"""Backpropagation written out by hand: the chapter's algorithm, no autograd.

For the 784-l-10 network (``model``): ``a⁰ = x``, ``z¹ = W¹a⁰ + b¹``, ``a¹ = φ(z¹)``,
``z² = W²a¹ + b²``, ``F = a² = ψ(z²)``. The chapter (its weighted input q, output z, activation g,
layer f, ``q⁽ᵏ⁾ = W⁽ᵏ⁾z⁽ᵏ⁻¹⁾ + b⁽ᵏ⁾``) multiplies Jacobians from the loss backwards,

    ∂L/∂θ⁽ᵏ⁾ = (∇L)ᵀ Df⁽ⁿ⁾ ⋯ Df⁽ᵏ⁺¹⁾ Dg⁽ᵏ⁾ ∂q⁽ᵏ⁾/∂θ⁽ᵏ⁾,   Df⁽ˡ⁾ = Dg⁽ˡ⁾ W⁽ˡ⁾.

Evaluated from the left, the running product is δˡ = ∂L/∂zˡ (z here the weighted input, the
chapter's q), and that is Nielsen's four equations (ch. 2):

* (BP1) output error:         δ² = J_ψ(z²)ᵀ ∇_F L       — (∇L)ᵀ Dg⁽ⁿ⁾
  (= ∇_F L ⊙ ψ'(z²) for sigmoid)
* (BP2) error one layer down: δ¹ = J_φ(z¹)ᵀ (W²)ᵀ δ²   — times W⁽ᵏ⁺¹⁾ Dg⁽ᵏ⁾ (δ² holds Dg⁽ᵏ⁺¹⁾)
  (= ((W²)ᵀδ²) ⊙ φ'(z¹))
* (BP3) bias gradients:       ∂L/∂bˡ = δˡ               — ∂q/∂b = 1
* (BP4) weight gradients:     ∂L/∂Wˡ = δˡ (aˡ⁻¹)ᵀ       — ∂q_i/∂W_ij = z_j⁽ᵏ⁻¹⁾

Samples are rows: (BP3), (BP4) sum over them. ``J_ψᵀ``, ``J_φᵀ`` are the activations'
``backward``; ``∇_F L`` the loss's ``grad``. More: docs/textbook.md.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .activations import Activation, Sigmoid, Softmax, leave_one_out
from .losses import LOG_FLOOR, get_loss, one_hot
from .model import MLP

MATCHED_PAIRS = {(Sigmoid, "binary_cross_entropy"), (Softmax, "log_likelihood")}
"""Output activation and loss whose output error simplifies to δ = F − y: the chapter's (37)
and its softmax gradient (corrected), Nielsen ch. 3, eq. 62 and 81."""


def output_error(output_activation: Activation, loss: str, z: Tensor, F: Tensor,
                 target: Tensor) -> Tensor:
    """(BP1), the output error δ = ∂ℓ/∂z = J_ψ(z)ᵀ ∇_F ℓ of every sample (rows), from the output
    layer's weighted input z and F = ψ(z): δ = F − y for ``MATCHED_PAIRS``; for the softmax with
    (35) ``softmax_cross_entropy_error``, rewritten for float32; for the sigmoid with the
    log-likelihood −y(1 − F) where ln F ≥ −100 (no 1/F formed); else the product as it stands.
    """
    y = one_hot(target, F)
    if (type(output_activation), loss) in MATCHED_PAIRS:
        return F - y
    if isinstance(output_activation, Softmax) and loss == "binary_cross_entropy":
        return softmax_cross_entropy_error(z, F, y)
    if isinstance(output_activation, Sigmoid) and loss == "log_likelihood":
        return -y * (1 - F) * (nn.functional.logsigmoid(z) >= LOG_FLOOR)
    return output_activation.backward(F, get_loss(loss).grad(F, y))


def softmax_cross_entropy_error(z: Tensor, F: Tensor, y: Tensor) -> Tensor:
    """(BP1) for F = softmax(z) and the cross-entropy (35), targets y (rows).

    As ``J_ψᵀ ∇_F ℓ`` it needs 1/F_j and 1/(1 − F_j), infinite in float32 for F_j near 0 or 1.
    With the log-odds d_j = z_j − ln Σ_{i≠j} e^(z_i), F_j = σ(d_j), (35) is the cross-entropy of
    sigmoid outputs of d, with the gradient (37):

        c_j = ∂ℓ/∂d_j = b_j F_j − a_j (1 − F_j)     (= F_j − y_j where no clamp acts),

    a_j = y_j [ln F_j ≥ −100], b_j = (1 − y_j) [ln(1 − F_j) ≥ −100] (the clamp's flat parts);
    ∂d_j/∂z_k = 1 at k = j, −P_jk elsewhere, with

        P_jk = e^(z_k) / Σ_{i≠j} e^(z_i) = F_k / (1 − F_j)   (k ≠ j; P_jj = 0),

    so δ_k = c_k − Σ_j c_j P_jk: nothing divided by a small number (docs/textbook.md).
    """
    others = leave_one_out(z)
    d = z - torch.logsumexp(others, dim=-1)                       # softmax_log_odds(z)
    a = y * (nn.functional.logsigmoid(d) >= LOG_FLOOR)
    b = (1 - y) * (nn.functional.logsigmoid(-d) >= LOG_FLOOR)
    c = b * F - a * leave_one_out(F, 0.0).sum(dim=-1)             # ∂ℓ/∂d
    P = torch.softmax(others, dim=-1)
    return c - (c.unsqueeze(-1) * P).sum(dim=-2)


@torch.no_grad()
def gradients(model: MLP, x: Tensor, target: Tensor, loss: str = "binary_cross_entropy",
              reduction: str = "mean") -> dict[str, Tensor]:
    """∂L/∂θ for every parameter θ of ``model``, keyed and shaped like its
    ``named_parameters()``: the chapter's backpropagation algorithm, as (BP1)–(BP4). ``x``
    images, ``target`` class indices or rows, L the mini-batch "mean" or "sum" of ``loss``."""
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum' for gradients, got {reduction!r}")
    W1, b1 = model.hidden.weight, model.hidden.bias
    W2, b2 = model.output.weight, model.output.bias

    # Forward pass, keeping every layer's activation.
    a0 = model.flatten(x).to(W1.dtype)
    a1 = model.activation(a0 @ W1.T + b1)
    z2 = a1 @ W2.T + b2
    F = model.output_activation(z2)

    delta2 = output_error(model.output_activation, loss, z2, F, target)  # (BP1), per sample
    if reduction == "mean":
        delta2 = delta2 / a0.shape[0]                    # L the mean over the m samples
    delta1 = model.activation.backward(a1, delta2 @ W2)  # (BP2)
    return {
        "hidden.weight": delta1.T @ a0,   # (BP4)
        "hidden.bias": delta1.sum(dim=0),  # (BP3)
        "output.weight": delta2.T @ a1,   # (BP4)
        "output.bias": delta2.sum(dim=0),  # (BP3)
    }
