"""What the tests share beyond fixtures: synthetic epoch records and digits, skip markers.
``from helpers import …`` (pytest puts ``tests/`` on ``sys.path``)."""

from __future__ import annotations

import shutil

import pytest
import torch

from mnist_mlp.data import DigitTensors
from mnist_mlp.engine import native
from mnist_mlp.training import EpochRecord

needs_compiler = pytest.mark.skipif(shutil.which(native.compiler() or "") is None,
                                    reason="no C compiler for the native loop")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def random_digits(n: int = 95, dtype: torch.dtype = torch.float64, seed: int = 0,
                  zeros: float = 0.5) -> DigitTensors:
    """n random "digits": pixels in [0, 1), about a fraction ``zeros`` of them 0 (an MNIST digit
    has about 0.8), and random labels."""
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 784, generator=g, dtype=dtype)
    return DigitTensors(images * (images >= zeros), torch.randint(0, 10, (n,), generator=g))


def record(epoch: int = 1, test: float = 0.9, validation: float | None = None,
           loss: float = 0.1, seconds: float = 1.0) -> EpochRecord:
    """One epoch: test accuracy ``test`` (also the training accuracy), validation accuracy
    ``validation`` (None: no validation set), every loss ``loss``."""
    return EpochRecord(epoch=epoch, minibatch_loss=loss, seconds=seconds, train_loss=loss,
                       train_accuracy=test, test_loss=loss, test_accuracy=test,
                       validation_loss=None if validation is None else loss,
                       validation_accuracy=validation)


def history(test: list[float], validation: list[float] | None = None,
            loss: float = 0.1) -> list[EpochRecord]:
    """One record per test accuracy, epochs 1, 2, …; ``validation`` accuracies alongside."""
    validation = validation or [None] * len(test)
    return [record(e, t, v, loss) for e, (t, v) in enumerate(zip(test, validation, strict=True),
                                                            start=1)]
