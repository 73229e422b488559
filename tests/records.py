"""Synthetic epoch records for tests: ``from records import history, record`` (pytest puts
``tests/`` on ``sys.path``)."""

from __future__ import annotations

from mnist_mlp.training import EpochRecord


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
