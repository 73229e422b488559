"""MNIST digits as tensors (``DigitTensors``): each image a row of 784 float32 pixels, the
chapter's input, grey values in [0, 1) (``to_digits``); labels 0..9 or the chapter's target
vectors y; and the splits (``MNISTSplits``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from ..textbook.model import INPUT_SIZE, NUM_CLASSES

PIXEL_SCALE = 256.0  # a pixel's byte is divided by this: values in [0, 1), each exact


class DigitTensors(Dataset):
    """Images (N, 784) float32 and labels (N,) int64 (or target vectors (N, 10), see
    ``with_target_vectors``), indexed a whole batch at a time."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        if images.shape[0] != labels.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels: counts "
                             "must agree")
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return self.labels.shape[0]

    def __getitem__(self, index: int | slice | Sequence[int] | torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(images[index], labels[index])``; a list of indices gives a batch."""
        if isinstance(index, Sequence):
            index = torch.as_tensor(index, dtype=torch.long, device=self.images.device)
        return self.images[index], self.labels[index]

    def to(self, device: torch.device | str) -> DigitTensors:
        """Return the same digits with both tensors on ``device``."""
        return DigitTensors(self.images.to(device), self.labels.to(device))

    def with_target_vectors(self) -> DigitTensors:
        """The same digits, each label as the textbook's target ``y``: 10 numbers, 1 at the
        digit and 0 elsewhere, in the images' dtype (made once here, not at every batch)."""
        targets = torch.nn.functional.one_hot(self.labels, NUM_CLASSES).to(self.images.dtype)
        return DigitTensors(self.images, targets)

    def __repr__(self) -> str:
        return f"DigitTensors({len(self)} images on {self.images.device})"


@dataclass(frozen=True)
class MNISTSplits:
    """The training, validation (None when there is none) and test digits."""

    train: DigitTensors
    validation: DigitTensors | None
    test: DigitTensors

    def to(self, device: torch.device | str) -> MNISTSplits:
        """Return the splits with all tensors on ``device``."""
        validation = None if self.validation is None else self.validation.to(device)
        return MNISTSplits(self.train.to(device), validation, self.test.to(device))

    def named(self) -> dict[str, DigitTensors]:
        """The splits by name: ``train``, ``test`` and, when there is one, ``validation``."""
        named = {"train": self.train, "test": self.test, "validation": self.validation}
        return {name: split for name, split in named.items() if split is not None}


def to_digits(images: torch.Tensor, labels: torch.Tensor) -> DigitTensors:
    """Flatten uint8 images (N, 28, 28) to float32 rows of 784 pixels scaled by 1/256: each
    value the stored byte exactly divided by 256."""
    rows = images.reshape(images.shape[0], INPUT_SIZE).to(torch.float32).div_(PIXEL_SCALE)
    return DigitTensors(rows, labels.to(torch.int64))

