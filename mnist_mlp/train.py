"""Training by mini-batch stochastic gradient descent: the reference loop people read.

    for each epoch:                      (the training set reshuffled)
        for each mini-batch (x, y) of m samples:
            L = (1/m) Σ ℓ(F(x), y)       (the chosen loss, mini-batch mean)
            θ ← θ − η ∂L/∂θ              (plain SGD: no momentum, no weight decay)

Gradients come from autograd here; ``mnist_mlp.backprop`` computes the same by hand.

With a run folder, every epoch ends with a checkpoint (``last.pt``, and ``best.pt`` by validation
accuracy; see ``mnist_mlp.checkpoint``), from which ``train(config, resume=folder)`` continues
with exactly the weights an uninterrupted run would have.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import torch
from torch import Tensor

from .activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from .checkpoint import (
    LAST,
    Checkpoint,
    CheckpointError,
    capture,
    check_resumable,
    is_new_best,
    load_checkpoint,
    restore,
    save_epoch,
)
from .data import DigitTensors, batches, load_mnist
from .losses import LOSSES, get_loss
from .metrics import ClassificationReport, classification_report, confusion_matrix
from .model import INITS, MLP
from .runs import RunLog, check_writable, create_run_dir, run_name

DIVERGENCE_CHECK_STEPS = 100
"""Every this many mini-batches the loss is checked for NaN, so that a diverged run stops soon."""


class DivergenceError(Exception):
    """The loss became NaN or infinite; the message says when and what to try."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training. ``checkpoint`` is the ``last.pt`` of the last completed epoch
    (None when no epoch was completed or there is no run folder), ``epoch`` that epoch."""

    def __init__(self, checkpoint: Path | None, epoch: int) -> None:
        super().__init__(f"interrupted after epoch {epoch}")
        self.checkpoint = checkpoint
        self.epoch = epoch


@dataclass(frozen=True)
class StepInfo:
    """What ``train`` tells its ``on_step`` callback after each mini-batch."""

    epoch: int
    step: int  # 1 … steps, within the epoch
    steps: int  # mini-batches per epoch
    loss: Tensor  # the mini-batch loss L (detached; .item() waits for the device)


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
        if self.train_size is not None:
            check_batch_size(self.batch_size, self.train_size)
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
    predictions: Tensor | None = None  # the predicted class of each digit

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
    predicted = torch.cat(predictions)
    return Evaluation(total / len(data), confusion_matrix(predicted, data.labels), predicted)


def check_batch_size(batch_size: int, n_train: int) -> None:
    """Refuse mini-batches larger than the training set: SGD would take one full batch per
    epoch, silently."""
    if batch_size > n_train:
        raise ValueError(f"batch_size {batch_size} is larger than the {n_train} training "
                         "images; choose a smaller --batch-size (or more --train-size)")


def is_finite(model: MLP, train_loss: float) -> bool:
    """Whether the training loss and every weight are finite numbers (no NaN, no infinity)."""
    return math.isfinite(train_loss) and all(bool(p.isfinite().all())
                                             for p in model.parameters())


def check_divergence(model: MLP, train_loss: float, epoch: int, lr: float,
                     saved: Path | None) -> None:
    """Raise ``DivergenceError`` if the loss or a weight is NaN or infinite.

    Called before the epoch's checkpoint is written, so ``last.pt`` (``saved``) keeps the last
    good epoch; the message names it.
    """
    if is_finite(model, train_loss):
        return
    kept = f"; the last good checkpoint is {saved}" if saved is not None else ""
    raise DivergenceError(f"the training loss became {train_loss} in epoch {epoch} (lr {lr:g}): "
                          f"gradient descent diverged; try a smaller --lr{kept}")


def train_epoch(model: MLP, loss_fn: Callable[..., Tensor], loader, lr: float,
                on_step: Callable[[Tensor], None] | None = None,
                threads: int | None = None) -> float:
    """One pass over the (reshuffled) training set; the mean of its mini-batch losses.

    ``threads``: CPU threads for torch during the pass (None: as they are; see
    ``step_threads``)."""
    model.train()
    total, steps = 0.0, 0
    with cpu_threads(threads):
        for x, y in loader:
            loss = sgd_step(model, loss_fn, x, y, lr)
            total = total + loss
            steps += 1
            if on_step is not None:
                on_step(loss)
    return float(total) / steps


ONE_THREAD_BELOW = 30
"""Mini-batches smaller than this are trained on one CPU thread (``step_threads``)."""


def step_threads(batch_size: int) -> int | None:
    """The CPU threads for SGD steps on mini-batches of ``batch_size``: 1 below
    ``ONE_THREAD_BELOW``, else torch's setting (None).

    The operations of a mini-batch of 10 are too small to share among threads: waking and
    synchronising them costs more than the arithmetic they split. On the 2-core machine of
    README's benchmark one thread made epochs 10–12 % faster for m = 10, made no difference for
    m = 30, and was 15–45 % slower for m = 100 and 1000.
    """
    return 1 if batch_size < ONE_THREAD_BELOW else None


@contextmanager
def cpu_threads(threads: int | None) -> Iterator[None]:
    """Run the block with torch on ``threads`` CPU threads (None: unchanged), then restore."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def resume_config(path: str | os.PathLike, **changes) -> TrainConfig:
    """The configuration saved with the checkpoint at ``path`` (a run folder: its ``last.pt``),
    with ``changes``, e.g. ``resume_config("runs/…", epochs=40)``."""
    saved = load_checkpoint(path, prefer=(LAST,))
    unknown = set(saved.config) - {f.name for f in fields(TrainConfig)}
    if unknown:
        raise CheckpointError(f"{saved.path} has settings this mnist-mlp does not know: "
                              f"{', '.join(sorted(unknown))}")
    return replace(TrainConfig(**saved.config), **changes)


def train(config: TrainConfig, model: MLP | None = None,
          on_epoch: Callable[[dict[str, float]], None] | None = None,
          on_step: Callable[[StepInfo], None] | None = None,
          resume: str | os.PathLike | None = None) -> TrainResult:
    """Train the network described by ``config`` (or continue ``model``) on MNIST.

    Each history record has ``epoch``, ``train_loss`` (mean of the epoch's mini-batch losses),
    ``train_accuracy``, ``test_loss``, ``test_accuracy``, ``seconds`` (the epoch's SGD steps,
    without evaluation) and, with a validation set, ``validation_loss`` and
    ``validation_accuracy``. ``on_epoch`` is called with each record as it is made, ``on_step``
    with a ``StepInfo`` after each mini-batch.

    ``resume``: a run folder (its ``last.pt``) or checkpoint file to continue from, in the
    checkpoint's folder, up to ``config.epochs``; ``config`` must be the run's own (see
    ``resume_config``) except for ``epochs``, ``device``, ``data_dir``. Ctrl-C raises
    ``TrainingInterrupted``, naming the checkpoint to resume from.
    """
    if model is not None and resume is not None:
        raise ValueError("give either a model to continue or a checkpoint to resume, not both")
    if model is not None:  # the model brings its own architecture
        config = replace(config, **{k: v for k, v in model.config().items()
                                    if k in {f.name for f in fields(config)}})
    config.validate()
    checkpoint: Checkpoint | None = None
    if resume is not None:
        checkpoint = load_checkpoint(resume, prefer=(LAST,))
        check_resumable(checkpoint, asdict(config))
    device = resolve_device(config.device)
    run_dir = prepare_run_folder(config, checkpoint)  # fails before the data is loaded
    data = load_mnist(config.data_dir, train_size=config.train_size,
                      validation_size=config.validation_size)
    check_batch_size(config.batch_size, len(data.train))
    if run_dir is None and config.log_dir:
        run_dir = create_run_dir(config.log_dir, run_name(asdict(config)))

    torch.manual_seed(config.seed)
    if model is None:
        model = MLP(config.hidden_size, config.activation, config.output_activation, config.init)
    shuffle = torch.Generator().manual_seed(config.seed)
    result = TrainResult(model, config, run_dir=run_dir)
    if checkpoint is not None:  # weights and both generators as they were after its epoch
        restore(checkpoint, model, shuffle)
        result.history = checkpoint.history
    model.to(device)
    splits = data.to(device).named()
    loader = batches(splits["train"].with_target_vectors(), config.batch_size, generator=shuffle)
    loss_fn = get_loss(config.loss).fn

    log = RunLog(run_dir, asdict(config) | {"device": str(device)}) if run_dir else None
    first_epoch = len(result.history) + 1
    saved = checkpoint.path if checkpoint is not None else None  # the last good checkpoint…
    saved_epoch = first_epoch - 1  # …and its epoch
    epoch, step = first_epoch, (first_epoch - 1) * len(loader)

    def after_step(loss: Tensor) -> None:
        nonlocal step
        step += 1
        if log is not None and step % config.log_every == 0:
            log.scalar("loss/train_running", loss.item(), step)
        if step % DIVERGENCE_CHECK_STEPS == 0 and not math.isfinite(loss.item()):
            check_divergence(model, loss.item(), epoch, config.lr, saved)
        if on_step is not None:
            on_step(StepInfo(epoch, step - (epoch - 1) * len(loader), len(loader), loss))

    try:
        for epoch in range(first_epoch, config.epochs + 1):
            start = time.perf_counter()
            train_loss = train_epoch(model, loss_fn, loader, config.lr, after_step,
                                     step_threads(config.batch_size))
            record: dict[str, float] = {"epoch": epoch, "train_loss": train_loss,
                                        "seconds": time.perf_counter() - start}
            check_divergence(model, train_loss, epoch, config.lr, saved)
            model.eval()
            evaluations = {split: evaluate(model, subset, config.loss)
                           for split, subset in splits.items()}
            for split, evaluation in evaluations.items():
                record[f"{split}_loss"] = evaluation.loss
                record[f"{split}_accuracy"] = evaluation.accuracy
            result.history.append(record)
            if run_dir is not None:
                saved = save_epoch(capture(model, asdict(config), result.history, shuffle),
                                   run_dir, best=is_new_best(result.history))
                saved_epoch = epoch
            if log is not None:
                log.epoch(record)
                log.model(model, epoch)
            if on_epoch is not None:
                on_epoch(record)
        result.metrics = classification_report(evaluations["test"].confusion)
        if log is not None:
            test = splits["test"]
            log.test_figures(test.images, test.labels, evaluations["test"].predictions,
                             evaluations["test"].confusion, config.epochs)
            log.finish({"test_accuracy": result.metrics.accuracy,
                        "test_loss": result.history[-1]["test_loss"]})
    except KeyboardInterrupt:
        raise TrainingInterrupted(saved, saved_epoch) from None
    finally:
        if log is not None:
            log.close()
    return result


def prepare_run_folder(config: TrainConfig, checkpoint: Checkpoint | None) -> Path | None:
    """Make sure logs and checkpoints can be written, before any data is loaded.

    A resumed run continues in its checkpoint's folder, which is returned; a new run's folder
    is created only once the data has loaded (so a data error leaves no empty run behind), and
    here its parent ``config.log_dir`` is only checked.
    """
    if checkpoint is not None and checkpoint.path is not None:
        return check_writable(checkpoint.path.parent,
                              fix="make the run folder writable to resume in it")
    if config.log_dir:
        check_writable(config.log_dir)
    return None
