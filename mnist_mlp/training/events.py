"""TensorBoard event files written without a thread, and without a file held open between writes.

``torch.utils.tensorboard.SummaryWriter`` keeps its event file open and a thread running, per
run: for a sweep of a thousand networks, a thousand of each — more open files than a process is
allowed. An ``EventFile`` keeps what is added in memory and appends it to the run's event file
at ``flush`` (open, write, close), in TensorBoard's own record format, so that a sweep's logs
cost one short write per network and epoch. The summaries themselves are made by
``torch.utils.tensorboard.summary``, as ``SummaryWriter`` makes them.
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.record_writer import RecordWriter
from torch.utils.tensorboard import summary as summaries

_FILES = itertools.count()


def default_bins() -> list[float]:
    """``SummaryWriter``'s histogram bins: ±1e-12 × 1.1^k up to 1e20, and 0."""
    buckets, v = [], 1e-12
    while v < 1e20:
        buckets.append(v)
        v *= 1.1
    return [-b for b in reversed(buckets)] + [0.0] + buckets


class EventFile:
    """One run's event file (``events.out.tfevents.…`` in ``folder``)."""

    BINS = default_bins()

    def __init__(self, folder: Path) -> None:
        # TensorBoard reads a folder's files in the order of their names: the count is padded,
        # so that a resumed run's file (say number 10) sorts after its first one (number 9)
        self.path = folder / (f"events.out.tfevents.{int(time.time()):010d}."
                              f"{socket.gethostname()}.{os.getpid()}.{next(_FILES):06d}")
        self.pending: list[bytes] = []
        self._add(event_pb2.Event(file_version="brain.Event:2"))
        self.flush()

    def _add(self, event: event_pb2.Event, step: int | None = None) -> None:
        event.wall_time = time.time()
        if step is not None:
            event.step = int(step)
        self.pending.append(event.SerializeToString())

    def summary(self, summary: summary_pb2.Summary, step: int | None = None) -> None:
        """Add a summary (as ``SummaryWriter.file_writer.add_summary``)."""
        self._add(event_pb2.Event(summary=summary), step)

    def scalar(self, tag: str, value: float, step: int | None = None) -> None:
        self.summary(summaries.scalar(tag, value), step)

    def text(self, tag: str, text: str) -> None:
        self.summary(summaries.text(tag, text))

    def histogram(self, tag: str, values: np.ndarray, step: int, bins: str = "tensorflow"
                  ) -> None:
        """``bins``: "tensorflow" (TensorBoard's fixed bins) or a numpy bin rule ("auto")."""
        self.summary(summaries.histogram(tag, values, self.BINS if bins == "tensorflow"
                                         else bins), step)

    def images(self, tag: str, images: np.ndarray, step: int) -> None:
        """Images (N, C, H, W) with values in [0, 1], as one image summary."""
        self.summary(summaries.image(tag, images, dataformats="NCHW"), step)

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
