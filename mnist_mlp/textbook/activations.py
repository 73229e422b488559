"""Activation functions, each with its derivative written beside it.

Each ``Activation`` has ``forward(z) -> a``, ``a = φ(z)``, and ``backward(a, grad_a) -> grad_z``,
the vector–Jacobian product ``∂ℓ/∂z = J_φ(z)ᵀ ∂ℓ/∂a`` (the chapter's factor ``Dg``, see
``backprop``), written with the kept activation a. For element-wise φ, J is diagonal: the
Hadamard product ``∂ℓ/∂a ⊙ φ'(z)`` of Nielsen's (BP1), (BP2); the chapter's (36) uses
``σ'(z) = σ(z)[1 − σ(z)]``. Softmax couples its outputs: ``J = diag(a) − a aᵀ`` in full.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Activation(nn.Module):
    """What every activation has: ``forward(z) -> a`` and ``backward(a, grad_a) -> grad_z``."""

    def backward(self, a: Tensor, grad_a: Tensor) -> Tensor:
        raise NotImplementedError


class Sigmoid(Activation):
    """σ(z) = 1 / (1 + e^(−z)), with σ'(z) = σ(z)(1 − σ(z))."""

    def forward(self, z: Tensor) -> Tensor:
        return torch.sigmoid(z)

    def backward(self, a: Tensor, grad_a: Tensor) -> Tensor:
        """∂ℓ/∂z = ∂ℓ/∂a ⊙ a(1 − a)."""
        return grad_a * a * (1 - a)


class Tanh(Activation):
    """tanh(z), with tanh'(z) = 1 − tanh²(z)."""

    def forward(self, z: Tensor) -> Tensor:
        return torch.tanh(z)

    def backward(self, a: Tensor, grad_a: Tensor) -> Tensor:
        """∂ℓ/∂z = ∂ℓ/∂a ⊙ (1 − a²)."""
        return grad_a * (1 - a * a)


class ReLU(Activation):
    """max(0, z), with derivative 1 where z > 0 and 0 elsewhere (0 at z = 0, as torch)."""

    def forward(self, z: Tensor) -> Tensor:
        return torch.relu(z)

    def backward(self, a: Tensor, grad_a: Tensor) -> Tensor:
        """∂ℓ/∂z = ∂ℓ/∂a ⊙ [a > 0]."""
        return grad_a * (a > 0).to(grad_a.dtype)


class Softmax(Activation):
    """F_j(z) = e^(z_j) / Σ_k e^(z_k), over the last dimension, with the Jacobian
    ∂F_j/∂z_k = F_j(δ_jk − F_k), ``J = diag(F) − F Fᵀ`` (symmetric). The chapter prints F_n² for
    the last term F_n F_j (an erratum: ``softmax_gradient``)."""

    def forward(self, z: Tensor) -> Tensor:
        return torch.softmax(z, dim=-1)

    def backward(self, a: Tensor, grad_a: Tensor) -> Tensor:
        """∂ℓ/∂z = (diag(F) − F Fᵀ) ∂ℓ/∂F = F ⊙ (∂ℓ/∂F − (∂ℓ/∂F · F)), one row per sample."""
        return a * (grad_a - (grad_a * a).sum(dim=-1, keepdim=True))


def leave_one_out(values: Tensor, fill: float = -torch.inf) -> Tensor:
    """Row j holds ``values`` with entry j left out (``fill`` in its place): shape (…, n, n).
    Of z (fill −∞), ``logsumexp`` gives ``ln Σ_{i≠j} e^(z_i)``, ``softmax`` ``F_k / (1 − F_j)``;
    of F (fill 0), ``sum`` gives ``Σ_{i≠j} F_i = 1 − F_j``, no cancellation near F_j = 1."""
    n = values.shape[-1]
    left_out = torch.eye(n, dtype=torch.bool, device=values.device)
    return values.unsqueeze(-2).expand(*values.shape[:-1], n, n).masked_fill(left_out, fill)


def softmax_log_odds(z: Tensor) -> Tensor:
    """``d_j = z_j − ln Σ_{i≠j} e^(z_i) = ln(F_j / (1 − F_j))``, the log-odds of each output of
    F = softmax(z): ``F_j = σ(d_j)``, ``1 − F_j = σ(−d_j)``."""
    return z - torch.logsumexp(leave_one_out(z), dim=-1)


HIDDEN_ACTIVATIONS: dict[str, type[Activation]] = {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU}
OUTPUT_ACTIVATIONS: dict[str, type[Activation]] = {"softmax": Softmax, "sigmoid": Sigmoid}


def make_activation(name: str, choices: dict[str, type[Activation]], what: str) -> Activation:
    """Build the activation called ``name`` from ``choices``; an unknown name is a ValueError."""
    if name not in choices:
        raise ValueError(f"unknown {what} {name!r}; choose one of {', '.join(choices)}")
    return choices[name]()
