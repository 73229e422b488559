"""What the demo page shows for one image: the digit as the network sees it, its answer, and
the hidden layer's activity — all computed by the package's own pieces (``prepare_image``,
``predict``, ``MLP.hidden_activations``)."""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from typing import Any

import torch

from mnist_mlp.data import prepare_image
from mnist_mlp.inference import predict
from mnist_mlp.textbook import MLP


@dataclass(frozen=True)
class Reading:
    """The network's reading of one image.

    ``pixels`` are the 784 inputs x after the MNIST preparation, row by row, in [0, 1);
    ``outputs`` the ten output activations F(x) — probabilities for a softmax output layer,
    ten independent numbers in (0, 1) for a sigmoid one (``output_activation`` says which);
    ``hidden`` the activations a¹ = φ(W¹x + b¹) of the hidden neurons.
    """

    digit: int
    pixels: list[float]
    outputs: list[float]
    output_activation: str
    hidden: list[float]
    hidden_activation: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@torch.no_grad()
def read_digit(model: MLP, image: bytes, name: str = "the image") -> Reading:
    """Prepare the image file held in ``image`` (PNG, JPEG…) as MNIST was and read it with
    ``model``. Raises ``ImageError`` (one line naming ``name``) if it is not an image or holds
    no digit."""
    x = prepare_image(io.BytesIO(image), name).unsqueeze(0)
    (prediction,) = predict(model, x)
    return Reading(digit=prediction.digit, pixels=x[0].tolist(), outputs=prediction.outputs,
                   output_activation=model.output_activation_name,
                   hidden=model.hidden_activations(x)[0].tolist(),
                   hidden_activation=model.activation_name)
