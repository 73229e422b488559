"""The textbook layer: the chapter's network, losses, gradients and measures, nothing else.

| the chapter | here |
| --- | --- |
| the 784-l-10 network F(x) | ``model.MLP`` |
| activations and their derivatives (Jacobians) | ``activations`` |
| the losses: L2, L1 (1/(2m)), cross-entropy (35), softmax cross-entropy; ∂ℓ/∂F | ``losses`` |
| a loss of F = ψ(z) taken from z, for autograd (float32-safe) | ``losses.network_loss`` |
| the softmax-gradient derivation, line by line, as printed and corrected | ``softmax_gradient`` |
| the backpropagation algorithm (Jacobians), by hand as (BP1)–(BP4) | ``backprop.gradients`` |
| the output error (BP1), fused for softmax + (35) | ``backprop.output_error`` |
| gradient descent θ ← θ − η ∂L/∂θ on a mini-batch | ``sgd.sgd_step`` |
| one sigmoid neuron, its gradients (36), (37), the learning slowdown | ``neuron`` |
| accuracy, precision, recall, specificity (and balanced accuracy) | ``metrics`` |
| the names of the activations, losses and initialisations (no torch) | ``names`` |

It imports nothing from the rest of the package: no data, no training, no files.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backprop import gradients
    from .losses import LOSSES, get_loss
    from .model import MLP
    from .sgd import sgd_step

__all__ = ["LOSSES", "MLP", "get_loss", "gradients", "sgd_step"]
_HOME = {"LOSSES": "losses", "MLP": "model", "get_loss": "losses", "gradients": "backprop",
         "sgd_step": "sgd"}


def __getattr__(name: str) -> Any:
    """``MLP``, ``sgd_step``… on first use, so that ``names`` loads without torch."""
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
