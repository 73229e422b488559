"""The engine's portable backend: every step as the tensor operations of ``Engine.step``; and
what the engine says when a faster backend cannot run (``say_instead``)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..data import DigitTensors, epoch_order

if TYPE_CHECKING:
    from .stacked import Engine


def say_instead(why: str, slower: str, required: bool | None = None,
                switch: str | None = None) -> None:
    """A faster backend cannot run the engine, for the reason ``why``: an error where it was
    ``required``, else one warning naming the ``slower`` backend used instead — none where the
    environment variable ``switch`` turned it off."""
    if required:
        raise RuntimeError(why)
    if switch is None or switch not in why:
        warnings.warn(f"{why}; the engine uses {slower} instead (slower)", stacklevel=4)


class TensorOps:
    """Steps one by one, each a handful of batched tensor operations for all K networks: on any
    device, for any activation and loss."""

    name = "tensor-ops"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def prepare(self, images: Tensor) -> None:
        """Nothing to prepare."""

    def run(self, images: Tensor, targets: Tensor, generators: Sequence[torch.Generator],
            batch_size: int, batch_losses: Tensor) -> None:
        """See ``Backend.run``."""
        self.steps(images, targets, self.orders(images.shape[0], generators), batch_size,
                   batch_losses)

    def orders(self, n: int, generators: Sequence[torch.Generator]) -> Tensor:
        """Every network's visiting order of ``n`` images this epoch, (K, n) on the engine's
        device."""
        return torch.stack([epoch_order(n, g) for g in generators]).to(self.engine.device)

    def steps(self, images: Tensor, targets: Tensor, order: Tensor, batch_size: int,
              batch_losses: Tensor, first_step: int = 0) -> None:
        """The steps from ``first_step`` on of visiting the images in ``order`` (K, n)."""
        for step, start in enumerate(range(first_step * batch_size, order.shape[1],
                                           batch_size), start=first_step):
            index = order[:, start:start + batch_size]
            self.engine.step(images[index], targets[index], batch_losses[:, step])

    def evaluate(self, data: DigitTensors) -> tuple[Tensor, Tensor]:
        """See ``Backend.evaluate``: batched matrix products."""
        return self.engine.dense_evaluate(data)
