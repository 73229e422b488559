"""The textbook layer: the chapter in code, and nothing else (no data, no training, no files).

* ``model``: the 784-l-10 network F(x), ``MLP``
* ``activations``: the activations and their Jacobians
* ``losses``: L2, L1, the cross-entropy (35) and its first term, each with ∂ℓ/∂F
* ``backprop``: backpropagation by hand, (BP1)–(BP4), ``gradients``
* ``sgd``: gradient descent θ ← θ − η ∂L/∂θ on a mini-batch, ``sgd_step``
* ``softmax_gradient``: the softmax-gradient derivation, as printed and corrected
* ``neuron``: one sigmoid neuron, its gradients (36), (37), the learning slowdown
* ``metrics``: accuracy, precision, recall, specificity (and balanced accuracy)
* ``names``: the names of the activations, losses and initialisations (no torch)

More: docs/textbook.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import softmax_gradient
    from .backprop import gradients
    from .losses import (
        LOSSES,
        binary_cross_entropy,
        binary_cross_entropy_grad,
        get_loss,
        log_likelihood,
        mae_loss,
        mse_loss,
        one_hot,
    )
    from .metrics import ClassificationReport, accuracy, classification_report, confusion_matrix
    from .model import MLP, NUM_CLASSES
    from .neuron import (
        COSTS,
        SATURATED_START,
        UNSATURATED_START,
        NeuronRun,
        cross_entropy_gradients,
        quadratic_gradients,
        sigmoid,
        sigmoid_prime,
        train_neuron,
    )
    from .sgd import sgd_step

_HOME = {
    "MLP": "model", "NUM_CLASSES": "model",
    "LOSSES": "losses", "get_loss": "losses", "mse_loss": "losses", "mae_loss": "losses",
    "binary_cross_entropy": "losses", "binary_cross_entropy_grad": "losses",
    "log_likelihood": "losses", "one_hot": "losses",
    "gradients": "backprop", "sgd_step": "sgd",
    "accuracy": "metrics", "classification_report": "metrics", "confusion_matrix": "metrics",
    "ClassificationReport": "metrics",
    "COSTS": "neuron", "SATURATED_START": "neuron", "UNSATURATED_START": "neuron",
    "NeuronRun": "neuron", "train_neuron": "neuron", "sigmoid": "neuron",
    "sigmoid_prime": "neuron", "quadratic_gradients": "neuron",
    "cross_entropy_gradients": "neuron",
}
_MODULES = ("softmax_gradient",)
"""Public as a whole: the derivation's lines, as printed and corrected, are read side by side."""
__all__ = [
    "COSTS", "LOSSES", "MLP", "NUM_CLASSES", "SATURATED_START", "UNSATURATED_START",
    "ClassificationReport", "NeuronRun", "accuracy", "binary_cross_entropy",
    "binary_cross_entropy_grad", "classification_report", "confusion_matrix",
    "cross_entropy_gradients", "get_loss", "gradients", "log_likelihood", "mae_loss", "mse_loss",
    "one_hot", "quadratic_gradients", "sgd_step", "sigmoid", "sigmoid_prime", "softmax_gradient",
    "train_neuron",
]


def __getattr__(name: str) -> Any:
    """``MLP``, ``sgd_step``… on first use, so that ``names`` loads without torch."""
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
