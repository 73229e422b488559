"""What defines a run: ``TrainConfig``, its checks, and the device it runs on."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields, replace

import torch

from ..errors import ConfigError
from ..textbook.activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from ..textbook.losses import LOSSES
from ..textbook.model import INITS
from .checkpoint import BEST, LAST, CheckpointError, load_checkpoint


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a run. The defaults are the reference setup:
    l = 30 sigmoid hidden neurons, softmax output, cross-entropy, η = 0.5, mini-batches of 10,
    30 epochs, on the first 50,000 training images."""

    hidden_size: int = 30
    activation: str = "sigmoid"
    output_activation: str = "softmax"
    loss: str = "cross_entropy"
    init: str = "pytorch"
    lr: float = 0.5
    batch_size: int = 10
    epochs: int = 30
    seed: int = 0
    device: str = "auto"
    data_dir: str | None = None
    train_size: int | None = None
    validation_size: int = 10_000
    log_dir: str | None = "runs"
    log_every: int = 500

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the first impossible setting."""
        for name in ("hidden_size", "batch_size", "epochs", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.train_size is not None and self.train_size < 1:
            raise ConfigError(f"train_size must be at least 1, got {self.train_size}")
        if self.validation_size < 0:
            raise ConfigError(f"validation_size must be 0 or more, got {self.validation_size}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be a positive number, got {self.lr}")
        if self.train_size is not None:
            check_batch_size(self.batch_size, self.train_size)
        for name, choices in (("activation", HIDDEN_ACTIVATIONS),
                              ("output_activation", OUTPUT_ACTIVATIONS),
                              ("loss", LOSSES), ("init", INITS)):
            if getattr(self, name) not in choices:
                raise ConfigError(f"unknown {name} {getattr(self, name)!r}; "
                                  f"choose one of {', '.join(choices)}")


def check_batch_size(batch_size: int, n_train: int) -> None:
    """Refuse mini-batches larger than the training set: SGD would take one full batch per
    epoch, silently."""
    if batch_size > n_train:
        raise ConfigError(f"batch_size {batch_size} is larger than the {n_train} training "
                          "images; choose a smaller --batch-size (or more --train-size)")


def resolve_device(name: str) -> torch.device:
    """``"auto"`` → cuda, then mps, then cpu; any other name must be available."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda asked for, but CUDA is not available here; "
                          "use --device cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device mps asked for, but MPS is not available here; "
                          "use --device cpu")
    return device


def resume_config(path: str | os.PathLike, **changes) -> TrainConfig:
    """The configuration saved with the checkpoint at ``path`` (a run folder: its ``last.pt``,
    else its ``best.pt``), with ``changes``, e.g. ``resume_config("runs/…", epochs=40)``."""
    saved = load_checkpoint(path, prefer=(LAST, BEST))
    unknown = set(saved.config) - {f.name for f in fields(TrainConfig)}
    if unknown:
        raise CheckpointError(f"{saved.path} has settings this mnist-mlp does not know: "
                              f"{', '.join(sorted(unknown))}")
    try:
        TrainConfig(**saved.config).validate()
    except ConfigError as error:
        raise CheckpointError(f"{saved.path} holds an impossible setting: {error}") from None
    return replace(TrainConfig(**saved.config), **changes)
