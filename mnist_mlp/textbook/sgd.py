"""Gradient descent on a mini-batch: the update rule, in plain sight.

The chapter's gradient-descent step (unnumbered) moves every weight and bias a little down the
slope of the loss,

    θ_α ← θ_α − η ∂L(θ)/∂θ_α,

with η the learning rate. Mini-batch SGD takes L to be the loss of one mini-batch of m samples;
here, as in Nielsen's runs that produced the chapter's MNIST figures, it is the mini-batch
*mean* ``(1/m) Σᵢ ℓ(F(xᵢ), yᵢ)`` (``reduction="mean"``), so that η does not have to change
with m. That is not the normalisation printed for every loss: the chapter writes its
cross-entropy (35) and its softmax cross-entropy as *sums* over the samples (m times the mean),
its L2 and L1 losses with 1/(2m) (the mean of ½‖·‖); a step on the sum with η would be a step on
the mean with mη. The gradient comes from autograd; ``mnist_mlp.textbook.backprop`` computes the
same numbers by hand.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


def sgd_step(model: nn.Module, loss_fn: Callable[..., Tensor], x: Tensor, y: Tensor,
             lr: float) -> Tensor:
    """One step of gradient descent on the mini-batch (x, y): θ ← θ − η ∂L/∂θ, L its *mean* loss.

    Plain SGD: no momentum, no weight decay. Returns L (detached, not synchronised with the
    device).
    """
    return descend(model, loss_fn(model(x), y, reduction="mean"), lr)


def descend(model: nn.Module, loss: Tensor, lr: float) -> Tensor:
    """θ ← θ − η ∂L/∂θ for every parameter θ of ``model``, the gradient of the loss ``loss`` by
    autograd. Returns the loss, detached."""
    model.zero_grad(set_to_none=True)
    loss.backward()
    with torch.no_grad():
        for theta in model.parameters():
            assert theta.grad is not None, "a parameter the loss does not depend on"
            theta.add_(theta.grad, alpha=-lr)  # θ ← θ − η ∂L/∂θ
    return loss.detach()
