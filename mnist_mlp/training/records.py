"""What training measures and reports: a ``RunStart``, one ``EpochRecord`` per epoch (its two
training losses, and ``diverged``: docs/training.md#what-a-run-prints), a ``StepInfo`` per
mini-batch, the ``Evaluation`` of a network on a split (``evaluate``) and each ``TrainResult``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..data import DigitTensors
from ..textbook.losses import network_loss
from ..textbook.metrics import ClassificationReport, confusion_matrix
from ..textbook.model import MLP
from .config import TrainConfig

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class RunStart:
    """What a run trains and where, for its first line."""

    configs: list[TrainConfig]  # one per network
    trainer: str  # the trainer in words, e.g. "reference loop"
    device: torch.device
    device_reason: str  # why that device, e.g. "auto: a GPU is here"
    first_epoch: int = 1  # more than 1 when the run is resumed


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of one network: its losses and accuracies (fractions), and its time."""

    epoch: int
    minibatch_loss: float | None  # mean of the epoch's mini-batch losses (None: not recorded)
    seconds: float  # the epoch's SGD steps, without evaluation
    train_loss: float | None  # on the whole training set, after the epoch (None: not evaluated
    train_accuracy: float | None  # this epoch, TrainConfig.evaluate_train_every)
    test_loss: float
    test_accuracy: float
    validation_loss: float | None = None  # None: no validation set
    validation_accuracy: float | None = None
    diverged: bool = False  # a weight, output or loss NaN or infinite (see __post_init__)

    def __post_init__(self) -> None:
        # a record whose training loss is not finite has diverged whatever it was told: so is
        # a record read from a file written before the flag existed
        losses = (self.train_loss, self.minibatch_loss)  # (None: not recorded)
        if not all(math.isfinite(loss) for loss in losses if loss is not None):
            object.__setattr__(self, "diverged", True)

    @property
    def training_loss(self) -> float | None:
        """The training set's loss after the epoch, else (not evaluated) the mini-batch mean."""
        return self.minibatch_loss if self.train_loss is None else self.train_loss

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for checkpoints and JSON), without the entries of a split not evaluated
        (no validation set; the training set not this epoch): strict JSON writes NaN as null."""
        return {k: v for k, v in asdict(self).items()
                if v is not None or not k.startswith(("validation", "train_"))}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpochRecord:
        """The record of ``to_dict``; ``KeyError``, ``TypeError`` or ``ValueError`` else."""
        if not isinstance(data, dict):
            raise TypeError(f"an epoch record is a dict, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        values = {k: data[k] for k in known if k in data} | {
            k: data.get(k) for k in ("minibatch_loss", "train_loss", "train_accuracy")}
        record = cls(**values)
        if not isinstance(record.diverged, bool):
            raise TypeError(f"epoch record entry diverged is {record.diverged!r}, not true or "
                            "false")
        for name, value in asdict(record).items():
            if value is None and name in ("epoch", "seconds", "test_loss", "test_accuracy"):
                raise TypeError(f"epoch record entry {name} is missing (null)")
            if name != "diverged" and value is not None and (
                    isinstance(value, bool) or not isinstance(value, (int, float))):
                raise TypeError(f"epoch record entry {name} is {value!r}, not a number")
            if name.endswith("accuracy") and value is not None and value == value and not (
                    0 <= value <= 1):  # (NaN: not measured, as a reproduction's file says)
                text = str(value) if len(str(value)) < 12 else f"{str(value)[:10]}…"
                raise ValueError(f"epoch record entry {name} is {text}, not in [0, 1]")
        return record


@dataclass(frozen=True)
class StepInfo:
    """What the reference trainer tells an ``on_step`` callback after each mini-batch."""

    epoch: int
    step: int  # 1 … steps, within the epoch
    steps: int  # mini-batches per epoch
    loss: Tensor  # the mini-batch loss L (detached; .item() waits for the device)


@dataclass(frozen=True)
class Evaluation:
    """Mean loss, confusion matrix and predictions of a network on one data split."""

    loss: float
    confusion: Tensor
    predictions: Tensor | None = None  # the predicted class of each digit

    @property
    def accuracy(self) -> float:
        """Correct predictions over all predictions: trace(C) / sum(C)."""
        return self.confusion.trace().item() / self.confusion.sum().item()


@torch.no_grad()
def evaluate(model: MLP, data: DigitTensors, loss: str, batch_size: int = 10_000) -> Evaluation:
    """Mean loss and confusion matrix of ``model`` on ``data``, in large batches."""
    loss_fn = network_loss(loss, model.output_activation)
    total, predictions = 0.0, []
    for start in range(0, len(data), batch_size):
        x, y = data[start:start + batch_size]
        z = model.logits(x)
        output = model.output_activation(z)
        total += loss_fn(z, y, "sum", output).item()
        predictions.append(output.argmax(dim=1))
    predicted = torch.cat(predictions)
    return Evaluation(total / len(data), confusion_matrix(predicted, data.labels), predicted)


@dataclass
class TrainResult:
    """One trained network: model, configuration, history, test metrics, run folder (or None)."""

    model: MLP
    config: TrainConfig
    history: list[EpochRecord] = field(default_factory=list)
    metrics: ClassificationReport | None = None
    run_dir: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """The result as plain data, without its model (what a shard of a sweep writes)."""
        return {"config": asdict(self.config), "history": [r.to_dict() for r in self.history],
                "metrics": None if self.metrics is None else self.metrics.to_dict(),
                "run_dir": None if self.run_dir is None else str(self.run_dir)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainResult:
        """The result of ``to_dict``, without model and metrics; ``KeyError``, ``TypeError`` or
        ``ValueError`` (``ConfigError``) for anything else."""
        config = TrainConfig(**data["config"])
        config.validate()
        known = {f.name for f in fields(EpochRecord)}
        if not isinstance(data["history"], list) or not all(
                isinstance(r, dict) and set(r) <= known for r in data["history"]):
            raise TypeError("its history is not a list of epoch records")
        run_dir = data["run_dir"]
        if not (run_dir is None or isinstance(run_dir, str)):
            raise TypeError("its run folder is not a path")
        # (a result read back has no model: to_dict leaves it out)
        return cls(model=None, config=config,  # type: ignore[arg-type]
                   history=[EpochRecord.from_dict(r) for r in data["history"]],
                   run_dir=None if run_dir is None else Path(run_dir))
