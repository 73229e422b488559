"""Run folders under ``runs/``: a readable name that is never reused, and TensorBoard logs in it.

One run, one folder, for example
``runs/binary_cross_entropy_l30_lr0.5_seed0_20261125-153012/``, holding

* TensorBoard event files: per-epoch scalars ``loss/{train,validation,test}`` and
  ``accuracy/{train,validation,test}``, the mean of the epoch's mini-batch losses
  ``loss/minibatch_mean``, the running mini-batch loss ``loss/train_running`` every few hundred
  steps, the configuration as text, and the hyperparameters with the final
  metrics (TensorBoard's HPARAMS tab, which leads with what differs between the runs it shows)
  — all in the run's own folder; from the reference trainer
  also, every epoch, histograms of each parameter (``weights/…``) and of its gradient on the
  epoch's last mini-batch (``gradients/…``) and the hidden neurons' weights as 28×28 images
  (``hidden/weights``), and at the end the test confusion matrix (``test/confusion_matrix``)
  and a grid of misclassified test digits (``test/misclassified``);
* ``config.json``: the configuration as plain data (a checkpoint beside the ``config.json``
  of its own run is resumed in place; one kept elsewhere goes on in a new run folder);
* ``last.pt`` and ``best.pt``: checkpoints (``mnist_mlp.training.checkpoint``), written by both
  trainers; ``diverged.pt``, a diverged network's state in a sweep (``keeper.py``);
* ``.lock``, while a process writes the folder (``lock.py``).

Open them with ``tensorboard --logdir runs``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from torch import Tensor, nn
from torch.utils.tensorboard.summary import hparams

from ..files import FolderError, JSONFileError, read_json, write_json
from .checkpoint import FREE_ON_RESUME, Checkpoint, renamed
from .events import EventFile
from .figures import confusion_figure, misclassified_figure, weight_images
from .records import SPLITS, EpochRecord

TENSORBOARD_BINS_END = 1e20
"""``SummaryWriter``'s default histogram bins cover ±1e-12 … ±1e20."""


def run_name(config: dict[str, Any], now: datetime | None = None) -> str:
    """``<loss>_l<hidden>_lr<η>_seed<seed>_<date-time>``: what tells the runs of a sweep apart
    comes first, where TensorBoard's run list (which cuts long names) shows it; the date and
    time after it order the runs of one setup."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return (f"{config['loss']}_l{config['hidden_size']}_lr{config['lr']:g}"
            f"_seed{config['seed']}_{stamp}")


def create_run_dir(log_dir: str | os.PathLike, name: str) -> Path:
    """Create ``log_dir/name`` — or ``name-2``, ``name-3``… if taken — and return it.

    An existing run folder is never reused, so no run overwrites another. A folder that cannot be
    created or written raises ``FolderError`` before any training starts.
    """
    parent = Path(log_dir)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for suffix in ["", *(f"-{i}" for i in range(2, 10_000))]:
            path = parent / f"{name}{suffix}"
            try:
                path.mkdir()
            except FileExistsError:
                continue
            probe = tempfile.NamedTemporaryFile(dir=path)  # raises if not writable
            probe.close()
            return path
    except OSError as error:
        reason = error.strerror or error
        raise FolderError(f"cannot write TensorBoard logs under {parent}: {reason}; "
                          "choose another folder with --log-dir") from None
    raise FolderError(f"too many runs named {name} under {parent}; choose another --log-dir")


CONFIG = "config.json"
"""The run's configuration, in its run folder."""


def in_own_run_folder(checkpoint: Checkpoint) -> bool:
    """Whether ``checkpoint`` lies in the folder of its own run: one whose ``config.json``
    holds the checkpoint's settings (but those a resumed run may change). A checkpoint copied
    elsewhere — a ``best.pt`` handed out, kept in Downloads — does not."""
    if checkpoint.path is None:
        return False
    try:
        written = read_json(checkpoint.path.parent / CONFIG, 1 << 20)
    except JSONFileError:
        return False
    written = renamed(written)  # a run of before 0.2 may say cross_entropy
    return isinstance(written, dict) and all(
        written.get(name) == value for name, value in checkpoint.config.items()
        if name not in FREE_ON_RESUME)


class RunLog:
    """The TensorBoard log of one run folder (written by ``events.EventFile``, flushed after
    each epoch), and its ``config.json``."""

    def __init__(self, run_dir: Path, config: dict[str, Any]) -> None:
        self.run_dir = run_dir
        self.config = config
        with self._writing():
            self.events = EventFile(run_dir)
            write_json(run_dir / CONFIG, config)
        table = "\n".join(f"| {k} | {v} |" for k, v in config.items())
        self.events.text("config", "| setting | value |\n| --- | --- |\n" + table)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """``FolderError`` for a log that cannot be written (a full disk, say)."""
        try:
            yield
        except OSError as error:
            raise FolderError(f"cannot write the TensorBoard log in {self.run_dir}: "
                              f"{error.strerror or error}; free some space or make the folder "
                              "writable") from None

    def flush(self) -> None:
        with self._writing():
            self.events.flush()

    def scalar(self, tag: str, value: float, step: int) -> None:
        self.events.scalar(tag, value, step)

    def epoch(self, record: EpochRecord) -> None:
        """The per-epoch scalars of one record: ``loss/<split>``, ``accuracy/<split>`` and the
        mean of the epoch's mini-batch losses, ``loss/minibatch_mean``."""
        for split in SPLITS:
            if record.loss(split) is not None:
                self.events.scalar(f"loss/{split}", record.loss(split), record.epoch)
                self.events.scalar(f"accuracy/{split}", record.accuracy(split), record.epoch)
        if record.minibatch_loss is not None:
            self.events.scalar("loss/minibatch_mean", record.minibatch_loss, record.epoch)

    def running_loss(self, losses: list[float], epoch: int, every: int) -> None:
        """Every ``every``-th mini-batch loss of epoch ``epoch`` (``losses``, one per step) as
        ``loss/train_running``, at its global step: steps ``every``, ``2 every``, … counted
        from the start of the run."""
        steps = len(losses)
        for step in range(every - (epoch - 1) * steps % every, steps + 1, every):
            self.events.scalar("loss/train_running", losses[step - 1],
                               (epoch - 1) * steps + step)

    def model(self, model: nn.Module, epoch: int) -> None:
        """Histograms of every parameter and of its gradient, and the hidden weights as images.

        The gradients are those of the epoch's last mini-batch (what ``.grad`` holds after the
        last SGD step); parameters without a gradient get no gradient histogram.
        """
        for name, parameter in model.named_parameters():
            self._histogram(f"weights/{name}", parameter.detach(), epoch)
            if parameter.grad is not None:
                self._histogram(f"gradients/{name}", parameter.grad, epoch)
        self.events.images("hidden/weights", weight_images(model.hidden.weight).numpy(), epoch)

    def _histogram(self, tag: str, values: Tensor, epoch: int) -> None:
        """A histogram of ``values``: in TensorBoard's fixed bins, which end at ±1e20, or — for
        values beyond them, as after a learning rate far too large — in bins fitted to the
        values (numpy's "auto"). Non-finite values have no histogram."""
        values = values.detach().cpu()
        if not bool(values.isfinite().all()):
            return
        largest = float(values.abs().max()) if values.numel() else 0.0
        bins = "tensorflow" if largest < TENSORBOARD_BINS_END else "auto"
        self.events.histogram(tag, values.double().numpy(), epoch, bins=bins)

    def test_figures(self, images: Tensor, labels: Tensor, predictions: Tensor,
                     confusion: Tensor, epoch: int) -> None:
        """The test confusion matrix and a grid of misclassified test digits, as figures."""
        self.events.figure("test/confusion_matrix", confusion_figure(confusion), epoch)
        wrong = misclassified_figure(images, labels, predictions)
        if wrong is not None:
            self.events.figure("test/misclassified", wrong, epoch)

    def finish(self, metrics: dict[str, float]) -> None:
        """Hyperparameters and final metrics for the HPARAMS tab, in this run's own folder.

        ``SummaryWriter.add_hparams`` would write them to a new sub-folder (a separate run), and
        with them a summary of the "experiment" naming the hyperparameters, whose columns
        TensorBoard then shows in alphabetical order. Only the run's start and end are written
        here, to its own file: without an experiment summary TensorBoard builds the table from
        the runs it shows, and puts first the hyperparameters whose values differ between them
        (a sweep's lr and seed), then the rest.
        """
        plain = {k: v if isinstance(v, (bool, int, float, str)) else str(v)
                 for k, v in self.config.items()}
        final = {f"final/{k}": v for k, v in metrics.items()}
        _experiment, start, end = hparams(plain, final)
        for summary in (start, end):
            self.events.summary(summary)
        for tag, value in final.items():
            self.events.scalar(tag, value)
        self.flush()

    def close(self) -> None:
        """Write what is left (quietly: a run that is failing already says why)."""
        with contextlib.suppress(OSError):
            self.events.flush()
