"""Gradient descent on a mini-batch: the chapter's update rule (unnumbered)
``θ_α ← θ_α − η ∂L(θ)/∂θ_α``, η the learning rate, L the *mean* loss of the mini-batch as in
Nielsen's runs (why the mean: docs/textbook.md). Autograd's gradient; ``backprop`` does it by hand.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


def sgd_step(model: nn.Module, loss_fn: Callable[..., Tensor], x: Tensor, y: Tensor,
             lr: float) -> Tensor:
    """One step of gradient descent on the mini-batch (x, y): θ ← θ − η ∂L/∂θ, L its *mean* loss.
    Plain SGD: no momentum, no weight decay. Returns L (detached, not synchronised)."""
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
