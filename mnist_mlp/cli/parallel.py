"""The train command past one process: a sweep split over the ranks of torchrun or over the
shards of ``--shard I/N`` runs (a Slurm job array's by default), and the reference loop
data-parallel under torchrun. How they share the work: docs/commands.md."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError, exit_status
from ..training import EpochRecord, TrainConfig, TrainingInterrupted, TrainResult, train_many
from ..training.checkpoints import LAST
from ..training.parallel import Launch, Shard, gather_json, network_id, network_ids, write_shard
from ..training.reference import train_data_parallel
from .common import command
from .progress import ProgressBars, SweepBar, bars_wanted
from .tables import epoch_line, start_printer


def check(args: argparse.Namespace, launch: Launch) -> Shard | None:
    """The shard this process trains (None: the whole sweep); ``ConfigError`` for what cannot
    be split."""
    if args.shard is not None and launch.distributed:
        raise ConfigError("--shard is for runs without torchrun; under torchrun each rank "
                          "takes its shard of the sweep by itself")
    if launch.distributed and args.resume is not None:
        raise ConfigError("--resume continues a run or a sweep in one process; drop torchrun")
    if args.resume is not None:
        return None  # a sweep's manifest says which shard it is of

    if launch.distributed and args.engine == "reference" and args.seeds * len(args.lr) > 1:
        raise ConfigError("under torchrun the reference loop trains one network, its "
                          "mini-batches split over the ranks; for a sweep use --engine fast")
    if args.shard is not None and args.engine != "fast":
        raise ConfigError("--shard splits a sweep of the fast engine; add --engine fast")
    if args.shard is not None and not args.log_dir:
        raise ConfigError("--shard writes its results into --log-dir; give one")
    return args.shard or (launch.shard if launch.distributed and args.engine == "fast"
                          else None)


def slurm_shard(given: Shard | None, launch: Launch) -> Shard | None:
    """``given`` (``--shard``), else under a Slurm job array (and not torchrun) the array task's
    shard, said on the first line of output; None for the whole sweep."""
    if given is not None or launch.distributed:
        return given
    shard = Shard.from_slurm()
    if shard is not None:
        print(f"shard {shard} from the Slurm job array (task SLURM_ARRAY_TASK_ID="
              f"{os.environ['SLURM_ARRAY_TASK_ID']}); --shard I/N overrides it, --shard 1/1 "
              "trains the whole sweep", flush=True)
    return shard


def train_shard(config: TrainConfig, args: argparse.Namespace, launch: Launch,
                shard: Shard) -> list[TrainResult] | None:
    """Train this shard's networks of ``config``: under torchrun, everyone's results on rank 0
    (None on the others); with ``--shard``, its own, written to the shard's file."""
    count, mine = len(config.networks()), shard.take([config.networks()])[0]
    part = (f"rank {launch.rank} of {launch.world_size}" if launch.distributed
            else f"shard {shard}")
    first_line = start_printer(prefix=f"{part}, its share of a sweep of {count}: ")
    if not mine:
        print(f"{part}: none of the sweep's {count} networks falls to it", flush=True)
    with SweepBar(config.epochs, len(mine), shard_line(shard),
                  bars_wanted(args.quiet) and launch.primary) as bar:
        results = (train_many(config, on_epoch=bar.epoch, launch=launch, manifest=True,
                              shard=shard, on_start=first_line)
                   if mine else [])
    if not launch.distributed:
        write_shard_results(Path(args.log_dir), shard, config.grid(), results)
        return results
    # each rank's results on disk before the gather, so that a rank lost there loses no result
    saved = (write_shard(Path(args.log_dir), shard, "train", config.grid(), identified(results))
             if args.log_dir else None)
    gathered = gather_share(results, config.epochs, launch, saved)
    if saved is not None:
        saved.unlink(missing_ok=True)  # gathered: rank 0 prints the whole sweep
    if gathered is None:
        return None
    by_id = {item["id"]: item for part in gathered for item in part}
    return [TrainResult.from_dict(by_id[i]) for i in network_ids(config.grid())]


def gather_share(results: list[TrainResult], epochs: int, launch: Launch,
                 saved: Path | None) -> list[Any] | None:
    """Every rank's results on rank 0 (None on the others). A signal or a rank that stops
    answering meanwhile ends this rank in one line that says its networks are complete, and
    how to merge the ranks' shard files (``saved``: this rank's)."""
    folders = sorted({str(r.run_dir.parent) for r in results if r.run_dir is not None})
    kept = (f"kept in their run folders in {', '.join(folders)}" if folders
            else "not kept (no --log-dir)")
    done = (f"trained its {len(results)} networks to the last epoch ({epochs}), {kept}, but at "
            "the gather " if results else "had none of the sweep's networks; at the gather it ")
    merge = ("" if saved is None else f"; its results are in {saved}: once every rank's shard "
             f"file is in {saved.parent} (a rank that wrote none: train its share with --shard "
             f"I/N), merge them: {command('mnist-mlp-merge', saved.parent)}")
    try:
        return gather_json(identified(results), launch, done, merge)
    except KeyboardInterrupt as stop:
        last = results[0].run_dir / LAST if results and results[0].run_dir else None
        raise TrainingInterrupted(last, epochs, epochs, len(results), exit_status(stop)) from None


def identified(results: list[TrainResult]) -> list[dict[str, Any]]:
    """Each result as a shard's item: its network's id (η, seed) and its record."""
    return [{"id": network_id(r.config.network_lr, r.config.seed)} | r.to_dict()
            for r in results]


def shard_line(shard: Shard) -> Callable[[int, list[EpochRecord]], str]:
    """What a shard prints after each epoch."""
    return lambda epoch, records: f"shard {shard}: epoch {epoch:3d}, {len(records)} networks"


def write_shard_results(folder: Path, shard: Shard, sweep: dict[str, Any],
                        results: list[TrainResult]) -> None:
    """The shard's file of results in ``folder``, and what to do once every shard is done."""
    items = identified(results)
    path = write_shard(folder, shard, "train", sweep, items)
    print(f"\nshard {shard} of the sweep: {len(items)} networks; results in {path}; once "
          f"every shard is done: {command('mnist-mlp-merge', folder)}")


def train_data_parallel_run(config: TrainConfig, args: argparse.Namespace,
                            launch: Launch) -> list[TrainResult]:
    """The reference loop's one network, each mini-batch split over the ranks."""
    with ProgressBars(config.epochs, epoch_line, bars_wanted(args.quiet) and launch.primary
                      ) as bars:
        return [train_data_parallel(replace(config, device=launch.device(config.device)),
                                    launch, on_epoch=bars.epoch if launch.primary else None,
                                    on_step=bars.step if launch.primary else None,
                                    on_start=start_printer(device=config.device))]

