"""What the claims are measured with (``ClaimSettings``), the full run and the quick one: a
module that loads no torch, so that ``scripts/claims.py --help`` shows its defaults at once."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from mnist_mlp.errors import ConfigError
from mnist_mlp.training import TrainConfig

from .configurations import Settings, configuration

BASE = "l30-softmax_eq35"
"""The reproduction's configuration whose protocol every sweep starts from: the recipe."""
QUICK = {"seeds": 2, "epochs": 3, "train_size": 5_000, "updates": 100}
"""``--quick``: 2 seeds, 3 epochs on the first 5,000 training images, 100 updates for the
fixed-update batch sweep (every sweep value kept)."""


@dataclass(frozen=True)
class ClaimSettings:
    """What the claims are measured with. The defaults are the full run."""

    seeds: int = 5
    epochs: int = 30
    train_size: int | None = None  # the first N training images (None: all 50,000)
    validation_size: int = 10_000  # the last training images, held out as in the reproduction
    lrs: tuple[float, ...] = (0.001, 0.01, 0.1, 0.5, 1.0, 10.0, 100.0)
    hidden_sizes: tuple[int, ...] = (10, 30, 100, 300)
    batch_sizes: tuple[int, ...] = (1, 10, 100, 1000)
    activations: tuple[str, ...] = ("sigmoid", "tanh", "relu")  # of the hidden layer
    outputs: tuple[tuple[str, str], ...] = (  # output layer and loss
        ("softmax", "binary_cross_entropy"), ("sigmoid", "binary_cross_entropy"),
        ("softmax", "log_likelihood"), ("sigmoid", "log_likelihood"))
    updates: int = 2_500  # SGD steps of the fixed-update batch sweep: m = 10 sees 25,000 images
    data_dir: str | None = None
    device: str = "auto"
    reproduction: str = "results/reproduction.json"  # where the stalled runs are read
    quick: bool = False

    def validate(self) -> None:
        for name in ("seeds", "epochs", "updates"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.train_size is not None and self.train_size < max(self.batch_sizes):
            raise ConfigError(f"train_size {self.train_size} is smaller than the largest "
                              f"mini-batch, {max(self.batch_sizes)}")

    def base(self) -> TrainConfig:
        """The sweeps' starting point: ``BASE`` under these settings, without logs, the
        training set evaluated every epoch (the learning-rate claims read its loss)."""
        settings = Settings(epochs=self.epochs, train_size=self.train_size,
                            validation_size=self.validation_size, data_dir=self.data_dir,
                            device=self.device, log_dir=None)
        config = configuration(BASE).train_config(settings)
        return replace(config, train_size=self.train_images(), evaluate_train_every=1)

    def train_images(self) -> int:
        """How many training images the sweeps use."""
        available = 60_000 - self.validation_size
        return available if self.train_size is None else min(self.train_size, available)


def quick_settings(**overrides: Any) -> ClaimSettings:
    return ClaimSettings(**(QUICK | {"quick": True} | overrides))
