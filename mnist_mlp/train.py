"""Training by mini-batch stochastic gradient descent: the reference loop people read.

    for each epoch:                      (the training set reshuffled)
        for each mini-batch (x, y) of m samples:
            L = (1/m) Σ ℓ(F(x), y)       (the chosen loss, mini-batch mean)
            θ ← θ − η ∂L/∂θ              (plain SGD: no momentum, no weight decay)

Gradients come from autograd here; ``mnist_mlp.backprop`` computes the same by hand.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import torch
from torch import Tensor

from .activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from .data import DigitTensors, batches, load_mnist
from .losses import LOSSES, get_loss
from .metrics import ClassificationReport, classification_report, confusion_matrix
from .model import INITS, MLP
from .runs import RunLog, create_run_dir, run_name


class DivergenceError(Exception):
    """The loss became NaN or infinite; the message says when and what to try."""


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
        """Raise ``ValueError`` naming the first impossible setting."""
        for name in ("hidden_size", "batch_size", "epochs", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.train_size is not None and self.train_size < 1:
            raise ValueError(f"train_size must be at least 1, got {self.train_size}")
        if self.validation_size < 0:
            raise ValueError(f"validation_size must be 0 or more, got {self.validation_size}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr}")
        for name, choices in (("activation", HIDDEN_ACTIVATIONS),
                              ("output_activation", OUTPUT_ACTIVATIONS),
                              ("loss", LOSSES), ("init", INITS)):
            if getattr(self, name) not in choices:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; "
                                 f"choose one of {', '.join(choices)}")


@dataclass
class TrainResult:
    """What ``train`` returns: the trained model, one record per epoch, the final test metrics."""

    model: MLP
    config: TrainConfig
    history: list[dict[str, float]] = field(default_factory=list)
    metrics: ClassificationReport | None = None
    run_dir: Path | None = None


@dataclass(frozen=True)
class Evaluation:
    """Mean loss, accuracy and confusion matrix of a model on one data split."""

    loss: float
    confusion: Tensor

    @property
    def accuracy(self) -> float:
        return self.confusion.trace().item() / self.confusion.sum().item()


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
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda asked for, but CUDA is not available here; use --device cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device mps asked for, but MPS is not available here; use --device cpu")
    return device


def sgd_step(model: MLP, loss_fn: Callable[..., Tensor], x: Tensor, y: Tensor,
             lr: float) -> Tensor:
    """One step of gradient descent on a mini-batch: θ ← θ − η ∂L/∂θ, L its mean loss.

    Returns L (detached, not synchronised with the device).
    """
    loss = loss_fn(model(x), y, reduction="mean")
    model.zero_grad(set_to_none=True)
    loss.backward()
    with torch.no_grad():
        for theta in model.parameters():
            theta.add_(theta.grad, alpha=-lr)  # θ ← θ − η ∂L/∂θ
    return loss.detach()


@torch.no_grad()
def evaluate(model: MLP, data: DigitTensors, loss: str, batch_size: int = 10_000) -> Evaluation:
    """Mean loss and confusion matrix of ``model`` on ``data``, in large batches."""
    loss_fn = get_loss(loss).fn
    total, predictions = 0.0, []
    for start in range(0, len(data), batch_size):
        x, y = data[start:start + batch_size]
        output = model(x)
        total += loss_fn(output, y, reduction="sum").item()
        predictions.append(output.argmax(dim=1))
    confusion = confusion_matrix(torch.cat(predictions), data.labels)
    return Evaluation(total / len(data), confusion)


def train_epoch(model: MLP, loss_fn: Callable[..., Tensor], loader, lr: float,
                on_step: Callable[[Tensor], None] | None = None) -> float:
    """One pass over the (reshuffled) training set; the mean of its mini-batch losses."""
    model.train()
    total, steps = 0.0, 0
    for x, y in loader:
        loss = sgd_step(model, loss_fn, x, y, lr)
        total = total + loss
        steps += 1
        if on_step is not None:
            on_step(loss)
    return float(total) / steps


def train(config: TrainConfig, model: MLP | None = None,
          on_epoch: Callable[[dict[str, float]], None] | None = None) -> TrainResult:
    """Train the network described by ``config`` (or continue ``model``) on MNIST.

    Each history record has ``epoch``, ``train_loss`` (mean of the epoch's mini-batch losses),
    ``train_accuracy``, ``test_loss``, ``test_accuracy``, ``seconds`` (the epoch's SGD steps,
    without evaluation) and, with a validation set, ``validation_loss`` and
    ``validation_accuracy``. ``on_epoch`` is called with each record as it is made.
    """
    if model is not None:  # the model brings its own architecture
        config = replace(config, **{k: v for k, v in model.config().items()
                                    if k in {f.name for f in fields(config)}})
    config.validate()
    device = resolve_device(config.device)
    data = load_mnist(config.data_dir, train_size=config.train_size,
                      validation_size=config.validation_size)
    run_dir = create_run_dir(config.log_dir, run_name(asdict(config))) if config.log_dir else None

    torch.manual_seed(config.seed)
    if model is None:
        model = MLP(config.hidden_size, config.activation, config.output_activation, config.init)
    model.to(device)
    splits = {"train": data.train.to(device), "test": data.test.to(device)}
    if data.validation is not None:
        splits["validation"] = data.validation.to(device)
    shuffle = torch.Generator().manual_seed(config.seed)
    loader = batches(splits["train"], config.batch_size, generator=shuffle)
    loss_fn = get_loss(config.loss).fn

    log = RunLog(run_dir, asdict(config) | {"device": str(device)}) if run_dir else None
    result = TrainResult(model, config, run_dir=run_dir)
    step = 0

    def on_step(loss: Tensor) -> None:
        nonlocal step
        step += 1
        if log is not None and step % config.log_every == 0:
            log.scalar("loss/train_running", loss.item(), step)

    try:
        for epoch in range(1, config.epochs + 1):
            start = time.perf_counter()
            train_loss = train_epoch(model, loss_fn, loader, config.lr, on_step)
            record: dict[str, float] = {"epoch": epoch, "train_loss": train_loss,
                                        "seconds": time.perf_counter() - start}
            if not math.isfinite(train_loss):
                raise DivergenceError(
                    f"the training loss became {train_loss} in epoch {epoch} (lr {config.lr}): "
                    "gradient descent diverged; try a smaller --lr")
            model.eval()
            evaluations = {split: evaluate(model, subset, config.loss)
                           for split, subset in splits.items()}
            for split, evaluation in evaluations.items():
                record[f"{split}_loss"] = evaluation.loss
                record[f"{split}_accuracy"] = evaluation.accuracy
            result.history.append(record)
            if log is not None:
                log.epoch(record)
            if on_epoch is not None:
                on_epoch(record)
        result.metrics = classification_report(evaluations["test"].confusion)
        if log is not None:
            log.finish({"test_accuracy": result.metrics.accuracy,
                        "test_loss": result.history[-1]["test_loss"]})
    finally:
        if log is not None:
            log.close()
    return result
