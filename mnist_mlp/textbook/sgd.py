"""Gradient descent on a mini-batch: the update rule, in plain sight.

The chapter updates every weight and bias by a small step down the slope of the loss,

    θ_α ← θ_α − η ∂L(θ)/∂θ_α,

with η the learning rate. Mini-batch SGD takes L to be the loss of one mini-batch of m samples;
here, as in Nielsen's runs that produced the chapter's MNIST figures, it is the mini-batch
*mean* ``(1/m) Σᵢ ℓ(F(xᵢ), yᵢ)``, so that η does not have to change with m. The gradient comes
from autograd; ``mnist_mlp.textbook.backprop`` computes the same numbers by hand.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


def sgd_step(model: nn.Module, loss_fn: Callable[..., Tensor], x: Tensor, y: Tensor,
             lr: float) -> Tensor:
    """One step of gradient descent on the mini-batch (x, y): θ ← θ − η ∂L/∂θ, L its mean loss.

    Plain SGD: no momentum, no weight decay. Returns L (detached, not synchronised with the
    device).
    """
    loss = loss_fn(model(x), y, reduction="mean")
    model.zero_grad(set_to_none=True)
    loss.backward()
    with torch.no_grad():
        for theta in model.parameters():
            theta.add_(theta.grad, alpha=-lr)  # θ ← θ − η ∂L/∂θ
    return loss.detach()
