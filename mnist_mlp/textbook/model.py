"""The 784-l-10 network, the chapter's (34): one fully connected hidden layer of ``l`` neurons.

    x ∈ [0,1)^784 ──hidden──▶ z¹ = W¹x + b¹, a¹ = φ(z¹) ──output──▶ z² = W²a¹ + b², F(x) = ψ(z²)

φ the hidden activation, ψ the output activation. ``backprop`` differentiates it by hand.
"""

from __future__ import annotations

import math
from typing import TypedDict

import torch
from torch import Tensor, nn

from .activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS, make_activation
from .names import INIT_NAMES

IMAGE_SIDE = 28  # an MNIST image is 28 × 28 grey values
INPUT_SIZE = IMAGE_SIDE * IMAGE_SIDE  # 784 input neurons, one per pixel
NUM_CLASSES = 10  # 10 output neurons, one per digit (one-hot)
INITS = INIT_NAMES  # the initialisations ``MLP`` knows (``reset_parameters``)


class Architecture(TypedDict):
    """A network's architecture, ``MLP``'s arguments by name (``MLP.architecture``)."""

    hidden_size: int
    activation: str
    output_activation: str
    init: str


class MLP(nn.Module):
    """The textbook's 784-l-10 network: ``hidden_size`` l ≥ 1, hidden ``activation`` φ
    (sigmoid, tanh, relu), ``output_activation`` ψ (softmax, sigmoid), ``init`` one of ``INITS``
    (docs/textbook.md), drawn from torch's global generator. Parameters ``hidden.weight``
    (l, 784), ``hidden.bias`` (l,), ``output.weight`` (10, l), ``output.bias`` (10,)."""

    def __init__(self, hidden_size: int = 30, activation: str = "sigmoid",
                 output_activation: str = "softmax", init: str = "pytorch") -> None:
        super().__init__()
        if isinstance(hidden_size, bool) or not isinstance(hidden_size, int) or hidden_size < 1:
            raise ValueError(f"hidden_size must be a positive integer, got {hidden_size!r}")
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
        self.hidden_size = hidden_size
        self.activation_name = activation
        self.output_activation_name = output_activation
        self.init = init
        self.activation = make_activation(activation, HIDDEN_ACTIVATIONS, "activation")
        self.output_activation = make_activation(output_activation, OUTPUT_ACTIVATIONS,
                                                 "output activation")
        self.hidden = nn.Linear(INPUT_SIZE, hidden_size)
        self.output = nn.Linear(hidden_size, NUM_CLASSES)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw the weights and biases again, by the scheme named in ``self.init``."""
        for layer in (self.hidden, self.output):
            if self.init == "pytorch":
                layer.reset_parameters()
                continue
            weight_std = 1.0 if self.init == "normal" else 1 / math.sqrt(layer.in_features)
            with torch.no_grad():
                layer.weight.normal_(0.0, weight_std)
                layer.bias.normal_(0.0, 1.0)

    def architecture(self) -> Architecture:
        """The constructor's arguments as plain data: ``MLP(**model.architecture())`` rebuilds it.
        (A run's settings are its ``TrainConfig``: "config" means that one.)"""
        return {"hidden_size": self.hidden_size, "activation": self.activation_name,
                "output_activation": self.output_activation_name, "init": self.init}

    @staticmethod
    def flatten(x: Tensor) -> Tensor:
        """Images of shape (N, 784), (N, 28, 28) or (N, 1, 28, 28) as rows of shape (N, 784)."""
        if x.dim() < 2 or x[0].numel() != INPUT_SIZE:
            raise ValueError(f"expected images of shape (N, 784), (N, 28, 28) or (N, 1, 28, 28), "
                             f"got {tuple(x.shape)}")
        return x.reshape(x.shape[0], INPUT_SIZE)

    def hidden_activations(self, x: Tensor) -> Tensor:
        """a¹ = φ(W¹x + b¹), shape (N, l)."""
        return self.activation(self.hidden(self.flatten(x)))

    def logits(self, x: Tensor) -> Tensor:
        """z² = W²a¹ + b², the output layer's weighted input, shape (N, 10)."""
        return self.output(self.hidden_activations(x))

    def forward(self, x: Tensor) -> Tensor:
        """F(x) = ψ(z²), the activations of the output layer, shape (N, 10)."""
        return self.output_activation(self.logits(x))

    def extra_repr(self) -> str:
        return f"init={self.init!r}"


class WeightedInput(nn.Module):
    """``model`` up to its output layer's weighted input, x ↦ z² (``MLP.logits``), its own
    parameters: ``sgd_step(WeightedInput(model), loss_of_z, x, y, η)`` is a step of ``model``
    on a loss taken from z (``losses.network_loss``)."""

    def __init__(self, model: MLP) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model.logits(x)
