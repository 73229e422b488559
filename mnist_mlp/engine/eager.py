"""The engine's portable backend: every step as the tensor operations of ``Engine.step``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor

if TYPE_CHECKING:
    from .stacked import Engine


class TensorOps:
    """Steps one by one, each a handful of batched tensor operations for all K networks: on any
    device, and on a CPU where the compiled loop cannot be built."""

    name = "tensor-ops"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def prepare(self, images: Tensor) -> None:
        """Nothing to prepare."""

    def run(self, images: Tensor, targets: Tensor, order: Tensor, batch_size: int,
            outputs: Tensor, first_step: int = 0) -> None:
        """The epoch's steps from ``first_step`` on (see ``Backend.run``)."""
        for start in range(first_step * batch_size, images.shape[0], batch_size):
            index = order[:, start:start + batch_size]
            self.engine.step(images[index], targets[index], outputs[:, start:start + batch_size])
