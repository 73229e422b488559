"""Run folders and their TensorBoard logs: ``run_name`` and ``create_run_dir`` (a readable
name, never reused); ``RunLog``, what a run writes into its folder; ``EventFile``, TensorBoard's
event files written without a thread; the pictures of a network (``weight_images``,
``confusion_figure``, ``misclassified_figure``). A run folder's files and tags:
docs/training.md#a-run-folder.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.record_writer import RecordWriter
from torch import Tensor
from torch.utils.tensorboard import summary as summaries
from torch.utils.tensorboard.summary import hparams

from ..files import FolderError, write_json
from ..textbook.model import IMAGE_SIDE, MLP
from .checkpoints import CONFIG
from .records import SPLITS, EpochRecord

TENSORBOARD_BINS_END = 1e20  # SummaryWriter's histogram bins cover ±1e-12 … ±1e20


def run_name(config: dict[str, Any], now: datetime | None = None) -> str:
    """``<loss>_l<hidden>_lr<η>_seed<seed>_<date-time>``: what tells a sweep's runs apart first,
    where TensorBoard's run list (which cuts long names) shows it."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return (f"{config['loss']}_l{config['hidden_size']}_lr{config['lr']:g}"
            f"_seed{config['seed']}_{stamp}")


def create_run_dir(log_dir: str | os.PathLike, name: str) -> Path:
    """Create ``log_dir/name`` (or ``name-2``… if taken: none is reused) and return it;
    ``FolderError`` where it cannot be created or written."""
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


class RunLog:
    """The TensorBoard log of one run folder (flushed after each epoch) and its config.json."""

    def __init__(self, run_dir: Path, config: dict[str, Any]) -> None:
        self.run_dir = run_dir
        self.config = config
        with self._writing():
            self.events = EventFile(run_dir)
            write_json(run_dir / CONFIG, config)
        table = "".join(f"\n| {k} | {v} |" for k, v in config.items())
        self.events.summary(summaries.text("config", "| setting | value |\n| --- | --- |" + table))

    @contextlib.contextmanager
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

    def epoch(self, record: EpochRecord) -> None:
        """The scalars ``loss/<split>``, ``accuracy/<split>`` and ``loss/minibatch_mean``."""
        for split, kind in itertools.product(SPLITS, ("loss", "accuracy")):
            value = getattr(record, f"{split}_{kind}")
            if value is not None:  # (None: no validation set)
                self.events.scalar(f"{kind}/{split}", value, record.epoch)
        if record.minibatch_loss is not None:
            self.events.scalar("loss/minibatch_mean", record.minibatch_loss, record.epoch)

    def running_loss(self, losses: list[float], epoch: int, every: int) -> None:
        """Every ``every``-th mini-batch loss as ``loss/train_running``, at its global step."""
        steps = len(losses)
        for step in range(every - (epoch - 1) * steps % every, steps + 1, every):
            self.events.scalar("loss/train_running", losses[step - 1],
                               (epoch - 1) * steps + step)

    def model(self, model: MLP, epoch: int) -> None:
        """Histograms of each parameter and its last gradient; the hidden weights as images."""
        for name, parameter in model.named_parameters():
            self._histogram(f"weights/{name}", parameter.detach(), epoch)
            if parameter.grad is not None:
                self._histogram(f"gradients/{name}", parameter.grad, epoch)
        images = weight_images(model.hidden.weight).numpy()
        self.events.summary(summaries.image("hidden/weights", images, dataformats="NCHW"), epoch)

    def _histogram(self, tag: str, values: Tensor, epoch: int) -> None:
        """A histogram in TensorBoard's fixed bins, or for values past ±1e20 (η far too large)
        numpy's "auto" bins; none for non-finite values."""
        values = values.detach().cpu()
        if not bool(values.isfinite().all()):
            return
        largest = float(values.abs().max()) if values.numel() else 0.0
        bins = EventFile.BINS if largest < TENSORBOARD_BINS_END else "auto"
        self.events.summary(summaries.histogram(tag, values.double().numpy(), bins), epoch)

    def test_figures(self, images: Tensor, labels: Tensor, predictions: Tensor,
                     confusion: Tensor, epoch: int) -> None:
        """The test confusion matrix and a grid of misclassified test digits, as figures."""
        self.events.figure("test/confusion_matrix", confusion_figure(confusion), epoch)
        wrong = misclassified_figure(images, labels, predictions)
        if wrong is not None:
            self.events.figure("test/misclassified", wrong, epoch)

    def finish(self, metrics: dict[str, float]) -> None:
        """Hyperparameters and final metrics for the HPARAMS tab, in this run's own folder and
        without an experiment summary, so that TensorBoard leads with the columns that differ
        (why not ``add_hparams``: docs/training.md#a-run-folder)."""
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


# ---------------------------------------------------------------------------------------------
# Event files, written without a thread and without a file held open between writes: a
# ``SummaryWriter`` per network would hold a thousand files and threads for a sweep of a thousand


_FILES = itertools.count()


def default_bins() -> list[float]:
    """``SummaryWriter``'s histogram bins: ±1e-12 × 1.1^k up to 1e20, and 0."""
    buckets, v = [], 1e-12
    while v < TENSORBOARD_BINS_END:
        buckets.append(v)
        v *= 1.1
    return [-b for b in reversed(buckets)] + [0.0] + buckets


class EventFile:
    """One run's event file: the summaries added are kept, then appended at ``flush``."""

    BINS = default_bins()

    def __init__(self, folder: Path) -> None:
        # TensorBoard reads a folder's files in the order of their names: the count is padded,
        # so that a resumed run's file (say number 10) sorts after its first one (number 9)
        self.path = folder / (f"events.out.tfevents.{int(time.time()):010d}."
                              f"{socket.gethostname()}.{os.getpid()}.{next(_FILES):06d}")
        self.pending: list[bytes] = []
        self._add(event_pb2.Event(file_version="brain.Event:2"))
        self.flush()

    def _add(self, event: event_pb2.Event) -> None:
        event.wall_time = time.time()
        self.pending.append(event.SerializeToString())

    def summary(self, summary: summary_pb2.Summary, step: int = 0) -> None:
        """Add a summary (as ``SummaryWriter.file_writer.add_summary``)."""
        self._add(event_pb2.Event(summary=summary, step=step))

    def scalar(self, tag: str, value: float, step: int = 0) -> None:
        self.summary(summaries.scalar(tag, value), step)

    def figure(self, tag: str, figure: Figure, step: int) -> None:
        """A matplotlib figure, drawn, as an image."""
        canvas = FigureCanvasAgg(figure)
        canvas.draw()
        pixels = np.asarray(canvas.buffer_rgba())[..., :3].transpose(2, 0, 1)
        self.summary(summaries.image(tag, pixels, dataformats="CHW", rescale=1), step)

    def flush(self) -> None:
        """Append what was added since the last flush to the file (raises ``OSError``)."""
        if not self.pending:
            return
        with self.path.open("ab") as file:
            writer = RecordWriter(file)
            for data in self.pending:
                writer.write(data)
        self.pending.clear()


# ---------------------------------------------------------------------------------------------
# Pictures of a network, with ``matplotlib.figure.Figure`` (no pyplot: no window, no global state)


HIDDEN_IMAGES = 64  # hidden neurons shown at most
MISCLASSIFIED_SHOWN = 36  # misclassified test digits shown at most


def weight_images(weight: Tensor, count: int = HIDDEN_IMAGES) -> Tensor:
    """The first ``count`` rows of W¹ (l, 784) as images (n, 1, 28, 28) in [0, 1]: which pixels
    excite (light) or inhibit (dark) hidden neuron j, each as ``0.5 + w / (2 max|w|)``."""
    rows = weight[:count].detach().to("cpu", torch.float32)
    scale = rows.abs().amax(dim=1, keepdim=True).clamp_min(1e-12)
    images = 0.5 + rows / (2 * scale)
    return images.reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE)


def confusion_figure(confusion: Tensor) -> Figure:
    """The confusion matrix as a heat map with its counts: rows true class, columns predicted."""
    counts = confusion.detach().cpu()
    k = counts.shape[0]
    figure = Figure(figsize=(6, 5.5), dpi=100)
    axes = figure.add_subplot()
    shown = axes.imshow(counts.numpy(), cmap="Blues")
    figure.colorbar(shown, ax=axes, fraction=0.046, pad=0.04)
    threshold = counts.max().item() / 2
    for i, j in itertools.product(range(k), repeat=2):
        value = int(counts[i, j])
        axes.text(j, i, str(value), ha="center", va="center", fontsize=7,
                  color="white" if value > threshold else "black")
    accuracy = counts.trace().item() / max(counts.sum().item(), 1)
    axes.set(xticks=range(k), yticks=range(k), xlabel="predicted class", ylabel="true class",
             title=f"test confusion matrix (accuracy {100 * accuracy:.2f}%)")
    figure.tight_layout()
    return figure


def misclassified_figure(images: Tensor, labels: Tensor, predictions: Tensor,
                         count: int = MISCLASSIFIED_SHOWN) -> Figure | None:
    """A grid of the first ``count`` misclassified digits (rows of 784 pixels), titled
    "predicted / true"; None when every digit is right."""
    wrong = (predictions.cpu() != labels.cpu()).nonzero().flatten()[:count]
    if len(wrong) == 0:
        return None
    columns = math.ceil(math.sqrt(len(wrong)))
    rows = math.ceil(len(wrong) / columns)
    figure = Figure(figsize=(1.2 * columns, 1.35 * rows + 0.4), dpi=100)
    figure.suptitle("misclassified test digits: predicted / true", fontsize=9)
    pixels = images.detach().cpu().reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    for position, index in enumerate(wrong.tolist()):
        axes = figure.add_subplot(rows, columns, position + 1)
        axes.imshow(pixels[index].numpy(), cmap="gray", vmin=0.0, vmax=1.0)
        axes.set_title(f"{int(predictions[index])} / {int(labels[index])}", fontsize=8)
        axes.axis("off")
    figure.tight_layout()
    return figure
