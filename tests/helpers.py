"""What the tests share beyond fixtures: synthetic epoch records and digits, skip markers, a
Slurm job array's variables, paths that cannot be used and the one error line about them.
``from helpers import …`` (pytest puts ``tests/`` on ``sys.path``)."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


def wreck_in_engine(monkeypatch, lr: float, seed: int, after_epoch: int = 1) -> None:
    """From now on the fast engine wrecks network (``lr``, ``seed``) after its epoch
    ``after_epoch``: that epoch's mini-batch losses and its output weights become NaN, what a
    step of η = NaN leaves (an extreme η does it on some machines only)."""
    from mnist_mlp.training.fast import FastTrainer

    real_init, real_epoch = FastTrainer.__init__, FastTrainer.epoch

    def init(self, networks, *args, **kwargs):
        real_init(self, networks, *args, **kwargs)
        self.wrecked = [n.config.lr == lr and n.config.seed == seed for n in networks]
        self.epochs_done = len(networks[0].result.history)

    def epoch(self, on_step):
        losses = real_epoch(self, on_step)
        self.epochs_done += 1
        if self.epochs_done == after_epoch:
            for k, wrecked in enumerate(self.wrecked):
                if wrecked:
                    self.engine.W2[k].fill_(float("nan"))
                    losses[k].fill_(float("nan"))
        return losses

    monkeypatch.setattr(FastTrainer, "__init__", init)
    monkeypatch.setattr(FastTrainer, "epoch", epoch)


def huber_loss(output: torch.Tensor, target: torch.Tensor, reduction: str = "mean"
               ) -> torch.Tensor:
    """A loss the package does not have (nor its compiled loop, nor its kernel): per sample
    Σ_j h(F_j − y_j), h(d) = d²/2 where |d| ≤ 1, else |d| − 1/2."""
    from mnist_mlp.textbook.losses import one_hot, reduce

    d = (output - one_hot(target, output)).abs()
    return reduce(torch.where(d <= 1, 0.5 * d * d, d - 0.5).sum(dim=-1), reduction)


def huber_grad(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """∂ℓ/∂F of ``huber_loss``: F − y, clipped to [−1, 1]."""
    from mnist_mlp.textbook.losses import one_hot

    return (output - one_hot(target, output)).clamp(-1, 1)


class Softplus(torch.nn.Module):
    """An activation the package does not have: ln(1 + e^z), whose derivative σ(z) is
    1 − e^(−a) of its value a."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.softplus(z)

    def backward(self, a: torch.Tensor, grad_a: torch.Tensor) -> torch.Tensor:
        return grad_a * -torch.expm1(-a)


def add_in_python_only(monkeypatch) -> None:
    """Add the loss "huber" and the hidden activation "softplus" as a contributor would in
    Python only (textbook/losses.py, textbook/activations.py), without their C cases."""
    from mnist_mlp.textbook import activations, losses

    monkeypatch.setitem(losses.LOSSES, "huber", losses.Loss(huber_loss, huber_grad,
                                                            "the Huber loss"))
    monkeypatch.setitem(activations.HIDDEN_ACTIVATIONS, "softplus", Softplus)


def job_array(monkeypatch, task: int, count: int, first: int, step: int = 1) -> None:
    """The variables Slurm sets in task ``task`` of ``--array=FIRST-…:STEP`` of ``count``."""
    for name, value in (("ID", task), ("COUNT", count), ("MIN", first), ("STEP", step),
                        ("MAX", first + (count - 1) * step)):
        monkeypatch.setenv(f"SLURM_ARRAY_TASK_{name}", str(value))


TOO_LONG = "x" * 300
"""A file name of more than 255 bytes: ENAMETOOLONG."""


@contextmanager
def fifo_at(path: Path):
    """A FIFO at ``path``. Should a command open it, a writer that closes at once lets the
    command read an end of file instead of waiting forever (and the test sees it read it)."""
    os.mkfifo(path)
    writer = threading.Thread(target=lambda: os.close(os.open(path, os.O_WRONLY)), daemon=True)
    writer.start()
    try:
        yield path
    finally:
        reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # the writer's open can now return
        writer.join()
        os.close(reader)


@contextmanager
def unusable_checkpoint(problem: str, tmp_path: Path, request) -> Iterator[Path]:
    """The path of a checkpoint with ``problem``: "too long", "locked" or "locked run" (in or
    of a folder that may not be entered: the fixture ``locked``), "fifo", else a device."""
    if problem == "too long":
        yield tmp_path / TOO_LONG / "last.pt"
    elif problem == "locked":
        yield request.getfixturevalue("locked") / "last.pt"
    elif problem == "locked run":  # a run folder that may not be entered
        yield request.getfixturevalue("locked")
    elif problem == "fifo":
        with fifo_at(tmp_path / "last.pt") as fifo:
            yield fifo
    else:
        yield Path("/dev/zero")


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err
