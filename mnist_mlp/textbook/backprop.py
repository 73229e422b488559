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
(``mnist_mlp.textbook.losses``). (BP1) is ``output_error``, which the engine and its C loop
compute alike: for some pairs of output activation and loss the product simplifies, and for the
softmax with the cross-entropy (35) it must be rewritten to be computed in float32.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .activations import Activation, Sigmoid, Softmax, leave_one_out
from .losses import LOG_FLOOR, get_loss, one_hot
from .model import MLP

MATCHED_PAIRS = {(Sigmoid, "binary_cross_entropy"), (Softmax, "log_likelihood")}
"""Output activation and loss whose output error simplifies to δ = F − y: the chapter's (37)
and its softmax gradient (corrected), Nielsen ch. 3, eq. 61 and 81."""


def output_error(output_activation: Activation, loss: str, z: Tensor, F: Tensor,
                 target: Tensor) -> Tensor:
    """(BP1), the output error δ = ∂ℓ/∂z = J_ψ(z)ᵀ ∇_F ℓ of every sample (rows).

    ``z`` is the output layer's weighted input and ``F = ψ(z)`` its output, as the forward pass
    computed them; ``target`` class indices or rows y; ``loss`` a name in ``LOSSES``.

    * The matched pairs (``MATCHED_PAIRS``): δ = F − y.
    * The softmax with the cross-entropy (35), both terms: ``softmax_cross_entropy_error``,
      the product rewritten so that float32 can compute it.
    * Any other pair: the product J_ψᵀ ∇_F ℓ as it stands.
    """
    y = one_hot(target, F)
    if (type(output_activation), loss) in MATCHED_PAIRS:
        return F - y
    if isinstance(output_activation, Softmax) and loss == "binary_cross_entropy":
        return softmax_cross_entropy_error(z, F, y)
    return output_activation.backward(F, get_loss(loss).grad(F, y))


def softmax_cross_entropy_error(z: Tensor, F: Tensor, y: Tensor) -> Tensor:
    """(BP1) for a softmax output F = softmax(z) and the cross-entropy (35), targets y (rows).

    Through ∂ℓ/∂F it reads δ_k = Σ_j g_j F_j (δ_jk − F_k), with g_j = ∂ℓ/∂F_j =
    −y_j/F_j + (1 − y_j)/(1 − F_j) (ln clamped at −100) and the softmax Jacobian. Float32 cannot
    evaluate that: 1/F_j is infinite once F_j is below 2.9·10⁻³⁹ while still above the clamp's
    e^(−100) (a subnormal), and 1 − F_j is 0 once F_j rounds to 1. Written with the log-odds
    d_j = z_j − ln Σ_{i≠j} e^(z_i) (``activations.softmax_log_odds``), F_j = σ(d_j) and
    1 − F_j = σ(−d_j), (35) is the cross-entropy of sigmoid outputs of d, whose gradient is
    the chapter's (37),

        c_j = ∂ℓ/∂d_j = b_j F_j − a_j (1 − F_j)     (= F_j − y_j where no clamp acts),

    a_j = y_j [ln F_j ≥ −100], b_j = (1 − y_j) [ln(1 − F_j) ≥ −100]: the brackets keep the
    clamp's meaning, no gradient where the clamped logarithm is flat. And ∂d_j/∂z_k = 1 at
    k = j, −P_jk elsewhere, with

        P_jk = e^(z_k) / Σ_{i≠j} e^(z_i) = F_k / (1 − F_j)   (k ≠ j; P_jj = 0),

    the softmax of the outputs other than j. So

        δ_k = c_k − Σ_j c_j P_jk:

    every factor at most 1 in size, nothing divided by a small number. (Expanding P and c gives
    back Σ_j g_j F_j (δ_jk − F_k).) The brackets are taken from z (ln F_j = log σ(d_j),
    ln(1 − F_j) = log σ(−d_j)), P from z (``activations.leave_one_out``), 1 − F_j as
    Σ_{i≠j} F_i. Autograd computes the same from ``losses.binary_cross_entropy_of_softmax``.
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
