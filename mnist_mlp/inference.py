"""Using a trained network, loaded from a checkpoint: ``evaluate_checkpoint``, its report on the
10,000 test digits; ``predict_files``, the digit in each image file, prepared as MNIST was
(``mnist_mlp.data.images``)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from .data import load_test_digits
from .data.images import ImageError, prepare_image
from .training.checkpoints import BEST, LAST, Checkpoint, build_model, load_checkpoint
from .training.config import resolve_device
from .training.records import Evaluation, evaluate

__all__ = ["CheckpointEvaluation", "Prediction", "checkpoint_summary", "evaluate_checkpoint",
           "predict", "predict_files"]


@dataclass(frozen=True)
class Prediction:
    """The network's answer for one image: ``probabilities`` sum to 1, the softmax outputs or,
    for a sigmoid output layer (``normalised``), its ten outputs divided by their sum;
    ``outputs`` are the raw output activations F(x)."""

    digit: int
    probabilities: list[float]
    outputs: list[float]
    normalised: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@torch.no_grad()
def predict(model: torch.nn.Module, images: Tensor) -> list[Prediction]:
    """The predicted digit and ten probabilities for each row of ``images`` (N, 784)."""
    model.eval()
    outputs = model(images).to(torch.float64)
    normalised = getattr(model, "output_activation_name", "softmax") != "softmax"
    probabilities = outputs / outputs.sum(dim=1, keepdim=True) if normalised else outputs
    return [Prediction(int(p.argmax()), p.tolist(), f.tolist(), normalised)
            for p, f in zip(probabilities, outputs, strict=True)]


def predict_files(checkpoint_path: str | os.PathLike, image_paths: list[str | os.PathLike]
                  ) -> tuple[Checkpoint, list[Prediction | ImageError]]:
    """The checkpoint (a run folder: its best.pt, else last.pt) and, for each image in order,
    its ``Prediction`` or the ``ImageError`` that says why it has none: one bad image does not
    cost the answers for the others."""
    checkpoint = load_checkpoint(checkpoint_path, prefer=(BEST, LAST))
    model = build_model(checkpoint)
    read = [_prepared_or_error(path) for path in image_paths]
    images = [x for x in read if isinstance(x, Tensor)]
    predictions = iter(predict(model, torch.stack(images)) if images else [])
    return checkpoint, [next(predictions) if isinstance(x, Tensor) else x for x in read]


def _prepared_or_error(path: str | os.PathLike) -> Tensor | ImageError:
    try:
        return prepare_image(path)
    except ImageError as error:
        return error


@dataclass(frozen=True)
class CheckpointEvaluation:
    """A checkpoint and its network's loss, confusion matrix and predictions on the test set."""

    checkpoint: Checkpoint
    test: Evaluation


def evaluate_checkpoint(path: str | os.PathLike, data_dir: str | os.PathLike | None = None,
                        device: str = "auto") -> CheckpointEvaluation:
    """The network of a checkpoint (a run folder: best.pt, else last.pt) on the 10,000 test
    digits, with the loss it was trained with."""
    checkpoint = load_checkpoint(path, prefer=(BEST, LAST))
    model = build_model(checkpoint)
    target = resolve_device(device)
    test = load_test_digits(data_dir)
    loss = checkpoint.config.get("loss", "log_likelihood")
    return CheckpointEvaluation(checkpoint, evaluate(model.to(target), test.to(target), loss))


def checkpoint_summary(checkpoint: Checkpoint) -> dict[str, Any]:
    """What a checkpoint is, as plain data: path, epoch, architecture, training settings."""
    return {"path": str(checkpoint.path), "epoch": checkpoint.epoch,
            "architecture": checkpoint.architecture, "config": checkpoint.config}
