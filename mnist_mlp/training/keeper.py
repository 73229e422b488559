"""A network's checkpoints as its run goes: ``last.pt`` and ``best.pt`` in its run folder.

The state of every completed epoch is captured in memory (weights, RNG states, history: a copy
on the CPU, cheap); it is written to disk every ``checkpoint_every`` epochs, at the last epoch,
and whenever the run stops early (Ctrl-C, SIGTERM, a divergence) — so that for a sweep of many
networks the files cost little, and yet ``last.pt`` always ends as the last completed epoch and
``best.pt`` as the epoch with the best validation accuracy. A network of a sweep that diverged
keeps ``last.pt`` at its last good epoch; its state after each later epoch is kept on the same
schedule as ``diverged.pt``, so that every network's last completed epoch is on disk. A write
is never cut in half by a signal: Ctrl-C and SIGTERM wait until it is done.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..files import signals_held
from .checkpoint import (
    BEST,
    DIVERGED,
    LAST,
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)


@dataclass(frozen=True)
class Kept:
    """A checkpoint on disk: its path (None: none yet) and its epoch."""

    path: Path | None = None
    epoch: int = 0


class Keeper:
    """The checkpoints of one network in ``run_dir``; ``kept`` is its ``last.pt`` on disk."""

    def __init__(self, run_dir: Path, every: int, kept: Kept = Kept(), saved: int = 0) -> None:
        self.run_dir, self.every, self.kept = run_dir, every, kept
        self.saved = saved  # the epoch of the latest state written (last.pt or diverged.pt)
        self.last: Checkpoint | None = None  # captured, not yet written…
        self.best: Checkpoint | None = None  # …and the best epoch's, not yet written
        self.lost: Checkpoint | None = None  # …and a diverged network's state

    def after_epoch(self, checkpoint: Checkpoint, best: bool, final: bool,
                    finite: bool = True) -> None:
        """Take the checkpoint of a completed epoch (``best``: the best so far by validation
        accuracy; ``finite`` False: its weights are not, as ``diverged.pt``); write it if it is
        due (``final``: the run's last epoch)."""
        if not finite:
            self.lost = checkpoint
        else:
            self.last = checkpoint
            if best:
                self.best = checkpoint
        if final or checkpoint.epoch % self.every == 0:
            self.write()

    @property
    def latest(self) -> Kept:
        """The last good epoch, written or about to be (``write`` runs before a run stops)."""
        if self.last is not None:
            return Kept(self.run_dir / LAST, self.last.epoch)
        return self.kept

    def write(self) -> None:
        """Write what is captured and not written yet: ``best.pt``, ``last.pt``, then
        ``diverged.pt``."""
        if self.last is None and self.best is None and self.lost is None:
            return
        with signals_held():
            try:
                if self.best is not None:
                    save_checkpoint(self.best, self.run_dir / BEST)
                if self.last is not None:
                    self.kept = Kept(save_checkpoint(self.last, self.run_dir / LAST),
                                     self.last.epoch)
                    self.saved = self.last.epoch
                if self.lost is not None:
                    save_checkpoint(self.lost, self.run_dir / DIVERGED)
                    self.saved = self.lost.epoch
            except CheckpointError as error:  # a full disk, a folder gone read-only
                raise CheckpointError(f"{error}; {kept_in(self.run_dir)}; free some space or "
                                      f"make {self.run_dir} writable, then resume the run in it "
                                      "with --resume") from None
            self.last = self.best = self.lost = None


def kept_in(run_dir: Path) -> str:
    """What a run folder keeps, in words (after a checkpoint could not be written)."""
    kept = []
    for name in (LAST, BEST):
        try:
            kept.append(f"{name} (epoch {load_checkpoint(run_dir / name).epoch})")
        except CheckpointError:
            pass
    return f"{run_dir} keeps {' and '.join(kept) if kept else 'no checkpoint'}"
