"""The chapter's statements about training, measured by sweeps on the engine (``train_many``):
the learning rate η, the hidden layer's size l, the mini-batch size m, and the choices of its
MNIST recipe — the hidden layer's activation, the output layer with its loss.

Every sweep starts from one ``TrainConfig`` (the claims' base: see ``claims``) and changes one
setting; each point is trained over the same seeds 0 … S − 1 and keeps every network's final
test accuracy and training-loss history, so that the report can draw the spread over seeds.
A point whose networks all diverge is kept as diverged (``DivergenceError`` is what
``train_many`` raises then): a learning rate too large to train is a result, not an error.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from mnist_mlp.training import (
    DivergenceError,
    EpochRecord,
    TrainConfig,
    TrainResult,
    final_accuracy,
    train_many,
)

Say = Callable[[str], None]


@dataclass
class Point:
    """One value of the swept setting, trained over the seeds."""

    value: float
    final: list[float]  # final test accuracy per seed; NaN for a diverged network
    losses: list[list[float]]  # training loss per epoch, per seed (NaN once diverged)
    epochs: int
    train_images: int
    seconds_per_epoch: float  # SGD only (no evaluation), per network: the grid's time / K
    updates_per_epoch: int
    label: str = ""  # a choice's name (an activation, an output and loss); value is its position

    @property
    def diverged(self) -> int:
        return sum(not math.isfinite(a) for a in self.final)

    @property
    def kept(self) -> list[float]:
        """Final accuracies of the networks that did not diverge."""
        return [a for a in self.final if math.isfinite(a)]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.kept) if self.kept else math.nan

    @property
    def updates(self) -> int:
        return self.epochs * self.updates_per_epoch

    def still_descending(self) -> bool | None:
        """Whether every kept network's training loss fell over its last epoch (None: one
        epoch, or no network kept)."""
        finite = [h for h in self.losses if len(h) > 1 and all(map(math.isfinite, h))]
        return all(h[-1] < h[-2] for h in finite) if finite else None


def train_point(config: TrainConfig, seeds: Sequence[int], value: float,
                lrs: Sequence[float] | None = None) -> list[Point]:
    """Train ``config`` over ``seeds`` (and ``lrs``, one ``Point`` each; default: its own η)."""
    lrs = list(config.lrs if lrs is None else lrs)
    try:
        results = train_many(config, seeds, lrs=lrs)
    except DivergenceError:  # every network of the grid diverged
        return [Point(value=lr if len(lrs) > 1 else value, final=[math.nan] * len(seeds),
                      losses=[], epochs=config.epochs, train_images=config.train_size or 0,
                      seconds_per_epoch=math.nan, updates_per_epoch=0) for lr in lrs]
    points = []
    for k, lr in enumerate(lrs):
        group = results[k * len(seeds):(k + 1) * len(seeds)]
        points.append(_point(lr if len(lrs) > 1 else value, group, config, len(results)))
    return points


def _point(value: float, results: list[TrainResult], config: TrainConfig, networks: int) -> Point:
    history: list[EpochRecord] = results[0].history
    n = config.train_size or 0
    return Point(
        value=value,
        final=[math.nan if any(r.diverged for r in res.history) else final_accuracy(res.history)
               for res in results],
        losses=[[math.nan if r.train_loss is None else r.train_loss for r in res.history]
                for res in results],
        epochs=len(history), train_images=n,
        seconds_per_epoch=statistics.median(r.seconds for r in history) / networks,
        updates_per_epoch=math.ceil(n / config.batch_size) if n else 0)


def learning_rate_sweep(base: TrainConfig, lrs: Sequence[float], seeds: Sequence[int],
                        say: Say) -> list[Point]:
    """Final test accuracy against η: one grid of ``lrs × seeds``, trained at once."""
    start = time.perf_counter()
    points = train_point(base, seeds, base.network_lr, lrs)
    say(f"learning rate: {len(lrs)} values × {len(seeds)} seeds "
        f"({time.perf_counter() - start:.0f} s)")
    return points


def hidden_size_sweep(base: TrainConfig, sizes: Sequence[int], seeds: Sequence[int],
                      say: Say) -> list[Point]:
    """Final test accuracy against l, one grid of seeds per size."""
    points = []
    for size in sizes:
        start = time.perf_counter()
        points += train_point(replace(base, hidden_size=size), seeds, size)
        say(f"hidden layer: l = {size} ({time.perf_counter() - start:.0f} s)")
    return points


@dataclass
class BatchSweep:
    """The mini-batch size m at a fixed number of epochs and at a fixed number of updates."""

    epochs: list[Point]
    updates: list[Point]
    fixed_updates: int


def batch_size_sweep(base: TrainConfig, sizes: Sequence[int], seeds: Sequence[int],
                     updates: int, available: int, say: Say) -> BatchSweep:
    """For each m: ``base.epochs`` epochs over the ``available`` training images; and
    ``updates`` SGD steps, on fresh images where they suffice (the first ``updates·m`` images,
    one epoch) and else over whole epochs of all of them."""
    by_epochs, by_updates = [], []
    for m in sizes:
        start = time.perf_counter()
        config = replace(base, batch_size=m, train_size=available)
        by_epochs += train_point(config, seeds, m)
        needed = updates * m
        if needed <= available:
            config = replace(config, train_size=needed, epochs=1)
        else:
            config = replace(config, epochs=math.ceil(needed / available))
        by_updates += train_point(config, seeds, m)
        say(f"mini-batches: m = {m} ({time.perf_counter() - start:.0f} s)")
    return BatchSweep(by_epochs, by_updates, updates)


def choice_sweep(base: TrainConfig, choices: Mapping[str, dict[str, Any]], seeds: Sequence[int],
                 say: Say, known: Mapping[TrainConfig, Point] | None = None) -> list[Point]:
    """One point per choice, ``base`` with that choice's settings (e.g. ``{"activation":
    "tanh"}``), labelled with its name, its value its position; a configuration in ``known`` is
    not trained again."""
    points = []
    for position, (label, changes) in enumerate(choices.items()):
        start = time.perf_counter()
        config = replace(base, **changes)
        if known and config in known:
            point = known[config]
        else:
            [point] = train_point(config, seeds, position)
        points.append(replace(point, value=position, label=label))
        say(f"{label} ({time.perf_counter() - start:.0f} s)")
    return points


def activation_sweep(base: TrainConfig, activations: Sequence[str], seeds: Sequence[int],
                     say: Say, known: Mapping[TrainConfig, Point] | None = None) -> list[Point]:
    """Final test accuracy for each hidden-layer activation, all else ``base``."""
    return choice_sweep(base, {a: {"activation": a} for a in activations}, seeds,
                        lambda line: say(f"hidden activation: {line}"), known)


LOSS_WORDS = {"binary_cross_entropy": "(35)", "log_likelihood": "first term"}
"""The losses of the output sweep, in the chapter's words."""


def output_label(output: str, loss: str) -> str:
    """``softmax + (35)``, ``sigmoid + first term``: an output layer with its loss."""
    return f"{output} + {LOSS_WORDS.get(loss, loss)}"


def output_sweep(base: TrainConfig, outputs: Sequence[tuple[str, str]], seeds: Sequence[int],
                 say: Say, known: Mapping[TrainConfig, Point] | None = None) -> list[Point]:
    """Final test accuracy for each (output activation, loss), all else ``base``."""
    choices = {output_label(o, loss): {"output_activation": o, "loss": loss}
               for o, loss in outputs}
    return choice_sweep(base, choices, seeds, lambda line: say(f"output layer: {line}"), known)
