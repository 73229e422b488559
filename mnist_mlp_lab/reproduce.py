"""The textbook's MNIST figures, reproduced with statistics: eight configurations × N seeds.

Nielsen (*Neural Networks and Deep Learning*, ch. 1 and 3), whose runs gave the chapter its
figures, reports one number per setup, the best epoch of one run. Here each configuration
(``configurations``) is trained over N seeds (0 … N − 1) and its test accuracy is read three
ways (``stats``): at the final epoch, at the best epoch on the test set (the textbook's reading)
and at the epoch chosen by validation accuracy (the honest reading). Stalled runs stay in every
statistic and are counted; ``evidence`` measures why they stall. A stall is a plateau that a run
may still leave: healthy runs that sat below the stall line until a quarter of the epochs or
later are reported as *late escapes* (``results``).

``reproduce(settings)`` trains and measures everything; ``results.load(path)`` reads a saved
``reproduction.json`` back, to render the report again without training. The report — tables,
plot, files — is ``report``; ``scripts/reproduce.py`` is the command line.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from mnist_mlp.data import DigitTensors, load_mnist
from mnist_mlp.textbook import MLP
from mnist_mlp.training import (
    ONE_PROCESS,
    WHOLE,
    EpochRecord,
    Launch,
    Shard,
    TrainResult,
    final_accuracy,
    first_then_others,
    gather_json,
    resolve_device,
    train,
    train_many,
)

from .configurations import NAMES, Configuration, Settings
from .evidence import saturation_evidence, softmax_bias_gradient_check
from .machine import machine
from .results import ConfigurationResult, Reproduction, Run, combine, from_dict, mark_stalls

Report = Callable[[str], None]

WIDTH = max(map(len, NAMES))  # of a configuration's name, in the progress lines


def run_configuration(conf: Configuration, settings: Settings, test: DigitTensors,
                      report: Report | None = None, seeds: Sequence[int] | None = None,
                      progress: Callable[[int], None] | None = None
                      ) -> tuple[ConfigurationResult, list[MLP]]:
    """Train the networks of ``conf`` with ``seeds`` (default: all ``settings.seeds``); returns
    the result (its stalled runs marked) and the networks. ``progress(n)`` after every n
    network-epochs."""
    say = report or (lambda _: None)
    config = conf.train_config(settings)
    seeds = list(range(settings.seeds)) if seeds is None else list(seeds)
    start = time.perf_counter()
    if settings.engine == "fast":
        def on_epoch(epoch: int, records: list[EpochRecord]) -> None:
            accuracy = summarize_line([r.test_accuracy for r in records if not r.diverged])
            say(f"{conf.name:{WIDTH}s} epoch {epoch:3d}/{settings.epochs}  test {accuracy}"
                f"  ({records[0].seconds:.1f} s)")
            if progress is not None:
                progress(len(records))

        results: list[TrainResult] = train_many(config, seeds, on_epoch=on_epoch)
    else:
        results = []
        for seed in seeds:
            results.append(train(replace(config, seed=seed)))
            say(f"{conf.name:{WIDTH}s} seed {seed}  final test "
                f"{100 * final_accuracy(results[-1].history):.2f} %")
    seconds = time.perf_counter() - start
    runs = []
    for result in results:
        run = Run(seed=result.config.seed, history=result.history,
                  metrics=result.metrics.to_dict() if result.metrics is not None else None,
                  run_dir=str(result.run_dir) if result.run_dir else None)
        if not run.diverged:
            run.evidence = saturation_evidence(result.model, test, conf.loss)
        runs.append(run)
    configuration_result = ConfigurationResult(conf, runs, seconds)
    mark_stalls(configuration_result, settings.stall_margin)
    return configuration_result, [r.model for r in results]


def summarize_line(values: Sequence[float]) -> str:
    """``95.12 ± 0.20 % (94.80–95.41)`` of accuracies given as fractions (of the networks that
    have not diverged: the caller leaves those out)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "—"
    std = statistics.stdev(finite) if len(finite) > 1 else 0.0
    return (f"{100 * statistics.fmean(finite):.2f} ± {100 * std:.2f} % "
            f"({100 * min(finite):.2f}–{100 * max(finite):.2f})")


def softmax_checks(train: DigitTensors, trained: MLP | None,
                   say: Callable[[str], None]) -> list[dict[str, Any]]:
    """The softmax bias gradient checked on real digits, for a fresh l = 30 softmax network and,
    if given, the trained one (seed 0); each said in a line."""
    checks = [{"network": "freshly initialised l = 30 softmax, seed 0"}
              | softmax_bias_gradient_check(train.images, train.labels)]
    if trained is not None:
        checks.append({"network": "trained l30-softmax, seed 0"}
                      | softmax_bias_gradient_check(train.images, train.labels, trained))
    for check in checks:
        say(f"softmax bias gradient check ({check['network']}, {check['batches']} mini-batches "
            f"of {check['batch_size']} real training images, float64): "
            f"max |autograd − Σ(F − y)| = {check['max_abs_difference']:.2e} "
            f"(gradients up to {check['max_abs_gradient']:.2f})")
    return checks


def reproduce(settings: Settings, report: Report | None = None, command: str = "",
              shard: Shard = WHOLE, launch: Launch = ONE_PROCESS,
              progress: Callable[[int], None] | None = None) -> Reproduction | None:
    """Train every configuration of ``settings`` over its seeds and measure the outcome.

    Loads the data first (so a missing data set fails at once), then trains configuration by
    configuration (``train_many`` with the fast engine, ``train`` seed by seed with the
    reference one), computes the stall evidence of every network and the softmax gradient
    check. ``report`` receives progress lines, ``progress(n)`` the count of network-epochs done.

    ``shard``: train only that share of every configuration's seeds (a ``--shard I/N`` run,
    its result to be merged with the others'). Under torchrun (``launch``) each rank trains its
    shard and rank 0 returns the whole reproduction, the others None.
    """
    if launch.distributed:
        shard = launch.shard
    say = report or (lambda _: None)
    settings.validate()
    started = datetime.now().astimezone().isoformat(timespec="seconds")
    start = time.perf_counter()
    device = resolve_device(settings.device)
    data = first_then_others(launch, lambda: load_mnist(
        settings.data_dir, train_size=settings.train_size,
        validation_size=settings.validation_size))
    test = data.test.to(device)
    say(f"{len(settings.configurations())} configurations × {settings.seeds} seeds, "
        f"{settings.epochs} epochs, {len(data.train)} training images, engine "
        f"{settings.engine}, device {device}")
    results, trained_softmax = [], None
    configurations = settings.configurations()
    seeds = shard.take([range(settings.seeds)] * len(configurations))
    for conf, own_seeds in zip(configurations, seeds, strict=True):
        result, models = run_configuration(conf, settings, test, say, own_seeds, progress)
        results.append(result)
        if conf.name == "l30-softmax" and own_seeds[:1] == [0] and not result.runs[0].diverged:
            trained_softmax = models[0]
        finals = [final_accuracy(r.history) for r in result.runs if not r.diverged]
        say(f"{conf.name}: final {summarize_line(finals)}, {len(result.stalled)} stalled, "
            f"{len(result.runs) - len(finals)} diverged  ({result.seconds:.0f} s)")

    checks = softmax_checks(data.train, trained_softmax, say)
    mine = Reproduction(settings, results, checks, machine(device), command,
                        time.perf_counter() - start, started)
    if not launch.distributed:
        return mine
    parts = gather_json(mine.to_dict(), launch)
    if parts is None:
        return None
    return combine([from_dict(part) for part in parts], time.perf_counter() - start)
