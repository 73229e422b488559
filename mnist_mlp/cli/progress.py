"""Progress bars (tqdm, on stderr), each line of output printed above them: ``ProgressBars``
for one network (epochs, and the epoch's mini-batches with the running loss), ``SweepBar`` for
a sweep (network-epochs), ``CountBar`` for any count of work. How: docs/commands.md."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

from tqdm import tqdm

from ..training.records import EpochRecord, StepInfo

if TYPE_CHECKING:
    from torch import Tensor
    from typing_extensions import Self

REFRESH_STEPS = 50
"""The step bar and its running loss are updated every this many mini-batches."""


def bars_wanted(quiet: bool) -> bool:
    """Bars only for a person watching: not with ``--quiet``, and only when both stdout and
    stderr are terminals."""
    return not quiet and sys.stdout.isatty() and sys.stderr.isatty()


class CountBar:
    """A bar over a count of work (network-epochs, say), with the rate and an ETA, and lines
    printed above it; ``enabled=False`` shows only the lines."""

    def __init__(self, total: int, desc: str, unit: str, enabled: bool = True,
                 file: IO[str] | None = None) -> None:
        self.bar = (tqdm(total=total, desc=desc, unit=unit, file=file, dynamic_ncols=True)
                    if enabled else None)

    def update(self, count: int) -> None:
        if self.bar is not None:
            self.bar.update(count)

    def write(self, line: str) -> None:
        """Print ``line`` to stdout: above the bar (``tqdm.write``) where it is shown, so that
        it is not garbled; else as a plain print."""
        if self.bar is not None:
            tqdm.write(line, file=sys.stdout)
            sys.stdout.flush()
        else:
            print(line, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ProgressBars(CountBar):
    """An epoch bar (``bar``) and a step bar with the running loss (mean of the epoch's
    mini-batch losses); ``describe`` turns an epoch's record into its line. Pass ``step`` and
    ``epoch`` to ``train`` as its ``on_step`` and ``on_epoch``."""

    def __init__(self, epochs: int, describe: Callable[[EpochRecord], str],
                 enabled: bool = True, file: IO[str] | None = None) -> None:
        self.bar: tqdm | None = None  # the epoch bar, made at the first step
        self.epochs, self.describe = epochs, describe
        self.enabled, self.file = enabled, file
        self.step_bar: tqdm | None = None
        self.loss_sum: float | Tensor = 0.0
        self.shown_steps = 0

    def step(self, info: StepInfo) -> None:
        """After each mini-batch: advance the step bar, now and then with the running loss."""
        if not self.enabled:
            return
        if self.bar is None:  # the first step tells where a resumed run starts
            self.bar = tqdm(total=self.epochs, initial=info.epoch - 1, desc="training",
                            unit="epoch", file=self.file, dynamic_ncols=True)
        if self.step_bar is None:
            self.step_bar = tqdm(total=info.steps, desc=f"epoch {info.epoch}", unit="step",
                                 leave=False, file=self.file, dynamic_ncols=True)
            self.loss_sum, self.shown_steps = 0.0, 0
        self.loss_sum = self.loss_sum + info.loss  # stays on the device until shown
        if info.step % REFRESH_STEPS == 0 or info.step == info.steps:
            self.step_bar.update(info.step - self.shown_steps)
            self.step_bar.set_postfix_str(  # the mean so far, as the epoch line's mini-batch loss
                f"mini-batch loss {float(self.loss_sum) / info.step:.4f}")
            self.shown_steps = info.step

    def epoch(self, record: EpochRecord) -> None:
        """At the end of an epoch: close its step bar, print its line, advance the epoch bar."""
        self.close_step_bar()
        self.write(self.describe(record))
        self.update(1)

    def close_step_bar(self) -> None:
        if self.step_bar is not None:
            self.step_bar.close()
            self.step_bar = None

    def close(self) -> None:
        """Close the bars (the epoch bar's last state stays on screen)."""
        self.close_step_bar()
        super().close()


class SweepBar(CountBar):
    """One bar over a sweep of K networks' epochs, each epoch's line printed above it. Pass
    ``epoch`` as the ``on_epoch`` callback of ``train_many``."""

    def __init__(self, epochs: int, networks: int,
                 describe: Callable[[int, list[EpochRecord]], str], enabled: bool = True,
                 file: IO[str] | None = None) -> None:
        super().__init__(epochs * networks, f"{networks} networks", "net-epoch", enabled, file)
        self.describe = describe

    def epoch(self, epoch: int, records: list[EpochRecord]) -> None:
        """After each epoch of the sweep: its line, and the bar moved on by K."""
        self.write(self.describe(epoch, records))
        self.update(len(records))
