"""``mnist-mlp-train``: train, print one line per epoch and the final report (the work is done
by ``mnist_mlp.training``)."""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import sys
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path

from ..errors import ConfigError, exit_status
from ..training import (
    TrainConfig,
    TrainingInterrupted,
    TrainResult,
    resume_config,
    resume_sweep,
    train,
    train_many,
)
from ..training.checkpoints import BEST, LAST, config_of
from ..training.fast import find_manifest, sweep_state
from ..training.parallel import Launch, process_group
from ..training.records import RunStart
from ..training.stats import Spread, summarize, validated_epoch
from . import parallel
from .common import command, one_line_errors, parse_noting_given, program, python, quoted
from .options import train_parser
from .progress import ProgressBars, SweepBar, bars_wanted
from .tables import epoch_line, epoch_of_many_line, format_report, start_printer

CONFIG_NAMES = frozenset(f.name for f in fields(TrainConfig))


def train_fast(config: TrainConfig, args: argparse.Namespace) -> list[TrainResult]:
    """Train the networks of ``config`` all at once with the fast engine; for several
    networks, a bar over network-epochs (on a terminal)."""
    count = len(networks := config.networks())  # (listed once: a sweep may hold many)
    if count == 1:
        return train_many(config, manifest=True, on_start=start_printer(),
                          on_epoch=lambda _, records: print(epoch_line(records[0]), flush=True))
    describe = functools.partial(epoch_of_many_line, lrs=[c.network_lr for c in networks])
    with SweepBar(config.epochs, count, describe, bars_wanted(args.quiet)) as bar:
        return train_many(config, manifest=True, on_epoch=bar.epoch, on_start=start_printer())


def resume_fast(path: Path, args: argparse.Namespace, given: set[str]) -> list[TrainResult]:
    """Continue the sweep of the manifest at ``path`` on the engine, with the options given
    that a resumed run may change; a shard's results go into its shard file."""
    if given & {"lr", "seed", "seeds"}:
        raise ConfigError("a sweep resumes with its own learning rates and seeds; drop --lr, "
                          "--seed and --seeds")
    if "engine" in given and args.engine != "fast":
        raise ConfigError("a sweep resumes on the fast engine; drop --engine (or continue one "
                          "network alone: --resume its run folder)")
    state = sweep_state(path)
    shard = state.manifest.shard
    if args.shard is not None and args.shard != shard:
        raise ConfigError(f"{path} is the manifest of shard {shard} of its sweep, not of "
                          f"{args.shard}; give that shard's")
    changes = {name: getattr(args, name) for name in given & CONFIG_NAMES}
    config = replace(config_of(state.checkpoints[0]), **changes)
    done = min(checkpoint.epoch for checkpoint in state.checkpoints)
    describe = (parallel.shard_line(shard) if shard.count > 1 else functools.partial(
        epoch_of_many_line, lrs=[c.config["lr"] for c in state.checkpoints]))
    with SweepBar(max(config.epochs - done, 0), len(state.checkpoints), describe,
                  bars_wanted(args.quiet)) as bar:
        results = resume_sweep(state, changes, on_epoch=bar.epoch, on_start=start_printer())
    if shard.count > 1:
        grid = state.manifest.grid
        parallel.write_shard_results(state.manifest.path.parent, shard, results[0].config.grid(
            grid["lrs"], grid["seeds"]), results)
    return results


def print_summary(results: list[TrainResult]) -> None:
    """One block per learning rate: the spread of test accuracy over its seeds."""
    for lr in dict.fromkeys(r.config.lr for r in results):
        group = [r for r in results if r.config.lr == lr]
        seeds = [r.config.seed for r in group]
        summary = summarize([r.history for r in group])
        print(f"\nlr {lr:g}, seeds {seeds[0]}…{seeds[-1]}: {summary['runs']} runs, "
              f"{summary['diverged']} diverged")
        for key, label in (("final", "final epoch"), ("best", "best epoch (on test)"),
                           ("validated", "epoch chosen by validation")):
            if isinstance(accuracies := summary.get(key), Spread):
                print(f"  test accuracy, {label:28s} {accuracies.percent()}")


def train_config(args: argparse.Namespace, given: set[str]) -> TrainConfig:
    """The run asked for, all its networks in one ``TrainConfig``; with ``--resume``, the run's
    own configuration with the options given."""
    if args.resume is None:
        config = TrainConfig(**{k: v for k, v in vars(args).items() if k in CONFIG_NAMES} | {
            "lr": args.lr[0] if len(args.lr) == 1 else tuple(args.lr)})
        config.validate()  # the grid as a whole: an η given twice, say
        return config
    if args.engine == "fast" or args.seeds > 1 or len(args.lr) > 1:
        raise ConfigError("--resume continues one run with the reference loop (a run of either "
                         "engine); drop --engine fast, --seeds and extra --lr values (a sweep "
                         "goes on, on the engine, from its manifest: --resume "
                         "LOG_DIR/sweep-….json)")
    changes = {name: getattr(args, name) for name in given & CONFIG_NAMES}
    if "lr" in changes:
        changes["lr"] = args.lr[0]
    return resume_config(args.resume, **changes)


def command_name() -> str:
    """How to run the train command again, as it was run: ``python scripts/train.py`` or
    ``mnist-mlp-train`` (each as ``common.program`` names it)."""
    script = sys.argv[0] if sys.argv else ""
    if script.endswith(".py") and not script.endswith("__main__.py"):
        return f"{python()} {quoted(script)}"
    return program("mnist-mlp-train")


def interrupted_message(stop: TrainingInterrupted, rank: bool = False) -> str:
    """One line after Ctrl-C, SIGTERM or SIGHUP: what was saved, and the command that resumes
    from it (a ``rank`` of torchrun: its share, in one process, then the merge)."""
    if stop.sweep is not None and 0 < stop.saved < stop.epochs and rank:
        return (f"interrupted: every network of this rank's share keeps its epoch {stop.saved} "
                f"in its run folder; resume the share in one process with: {command_name()} "
                f"--resume {quoted(stop.sweep)}, and once every rank's share is done, merge "
                f"them: {command('mnist-mlp-merge', stop.sweep.parent)}")
    if stop.sweep is not None and 0 < stop.saved < stop.epochs:
        return (f"interrupted: every network of the sweep keeps its epoch {stop.saved} in its "
                f"run folder; resume the sweep with: {command_name()} --resume "
                f"{quoted(stop.sweep)}")
    if stop.checkpoint is None:
        return "interrupted before any epoch was saved; nothing to resume"
    if stop.epoch >= stop.epochs and stop.networks > 1:
        return (f"interrupted after the last epoch ({stop.epoch}): its {stop.networks} networks "
                f"are complete and saved in their run folders in {stop.checkpoint.parent.parent}")
    if stop.epoch >= stop.epochs:
        return (f"interrupted after the last epoch ({stop.epoch}): the run is complete and "
                f"saved in {stop.checkpoint.parent}")
    if stop.networks > 1:
        return (f"interrupted: each network's run folder keeps the checkpoint of its last "
                f"completed epoch (epoch {stop.epoch})")
    return (f"interrupted: epoch {stop.epoch} is saved in {stop.checkpoint}; resume with: "
            f"{command_name()} --resume {quoted(stop.checkpoint)}")


def train_reference(config: TrainConfig, args: argparse.Namespace) -> list[TrainResult]:
    """Train each network of ``config`` in turn with the reference loop, with progress bars;
    the first line names them all."""
    networks = config.networks()
    first_line = start_printer(networks)
    results = []
    for network in networks:
        def on_start(start: RunStart, network: TrainConfig = network) -> None:
            first_line(start)
            if len(networks) > 1:
                print(f"--- lr {network.lr:g}, seed {network.seed}", flush=True)

        with ProgressBars(config.epochs, epoch_line, bars_wanted(args.quiet)) as bars:
            results.append(train(network, on_epoch=bars.epoch, on_step=bars.step,
                                 resume=args.resume, on_start=on_start))
    return results


@one_line_errors
def main(argv: Sequence[str] | None = None) -> int:
    """``mnist-mlp-train``: train, print one line per epoch and the final metrics."""
    args, given = parse_noting_given(train_parser(), argv, CONFIG_NAMES | {"engine"})
    launch = Launch.from_environment()
    if args.engine == "fast" and args.resume is None and args.seeds * len(args.lr) > 1:
        args.shard = parallel.slurm_shard(args.shard, launch)  # a sweep --shard can split
    shard = parallel.check(args, launch)
    with process_group(launch, args.device), \
            contextlib.redirect_stdout(sys.stdout if launch.primary else io.StringIO()):
        results: list[TrainResult] | None
        try:
            sweep = None if args.resume is None else find_manifest(args.resume, args.shard)
            if sweep is not None:
                results = resume_fast(sweep, args, given)
            elif args.resume is not None and args.shard is not None:
                raise ConfigError(f"--resume with --shard continues a shard of a sweep, and "
                                  f"{args.resume} holds no manifest of shard {args.shard} "
                                  "(sweep-…-shard-I-of-N.json)")
            elif shard is not None:
                results = parallel.train_shard(train_config(args, given), args, launch, shard)
            elif launch.distributed:
                results = parallel.train_data_parallel_run(train_config(args, given), args,
                                                           launch)
            elif args.engine == "fast":
                results = train_fast(train_config(args, given), args)
            else:
                results = train_reference(train_config(args, given), args)
        except KeyboardInterrupt as stop:
            rank = f"rank {launch.rank} of {launch.world_size}: " if launch.distributed else ""
            print(rank + (interrupted_message(stop, launch.distributed)
                          if isinstance(stop, TrainingInterrupted) else
                          "interrupted before the first epoch began; nothing new was saved"),
                  file=sys.stderr)
            return exit_status(stop)
        if results:
            print_results(results)
    return 0


def print_results(results: list[TrainResult]) -> None:
    """The final report of one network, or the summary of a sweep; where the logs and the
    checkpoints are, each with a command that works when pasted."""
    if len(results) == 1 and results[0].metrics is not None:
        print(f"\nthe test set after the last epoch ({len(results[0].history)}):\n"
              f"{format_report(results[0].metrics)}")
    else:
        print_summary(results)
    run_dirs = [r.run_dir for r in results if r.run_dir is not None]
    if not run_dirs:
        return
    logs, best = run_dirs[0].parent, (run_dirs[0] / BEST).exists()
    tensorboard = command("tensorboard", "--logdir", logs)
    print(f"\nTensorBoard logs in {logs}; see them with: {tensorboard}")
    evaluate = command("mnist-mlp-evaluate", run_dirs[0])
    if len(run_dirs) > 1:
        print(f"checkpoints {LAST}{f' and {BEST}' if best else ''} in each of the "
              f"{len(run_dirs)} run folders in {logs}; evaluate one with: {evaluate}")
    elif best:
        chosen = validated_epoch(results[0].history).epoch
        print(f"checkpoints {LAST} (epoch {len(results[0].history)}) and {BEST} (epoch "
              f"{chosen}, the best validation accuracy) in {run_dirs[0]}; evaluate "
              f"{BEST} with: {evaluate}")
    else:
        print(f"checkpoint {LAST} in {run_dirs[0]}; evaluate it with: {evaluate}")
