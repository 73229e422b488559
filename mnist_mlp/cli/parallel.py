"""The train command past one process: a sweep split over the ranks of torchrun or over the
shards of ``--shard I/N`` runs, and the reference loop data-parallel under torchrun.

Under torchrun every rank runs the same command; rank 0 alone prints. The fast engine's grid
of (η, seed) is dealt out over the ranks (``Shard.take``), each rank trains its networks and
writes their run folders, and rank 0 gathers the results and prints the one summary. With
``--shard I/N`` (a Slurm job array, any scheduler) a process trains shard I and writes its
results to ``LOG_DIR/shard-I-of-N.json``; ``mnist-mlp-merge LOG_DIR`` prints the summary once
all N are there.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..training import TrainConfig, TrainResult, train_many
from ..training.distributed import train_data_parallel
from ..training.launch import Launch, Shard, gather_json
from ..training.progress import ProgressBars, SweepBar, bars_wanted
from ..training.shards import result_from_dict, result_to_dict, write_shard
from .common import quoted
from .tables import epoch_line


def check(args: argparse.Namespace, launch: Launch) -> Shard | None:
    """The shard this process trains (None: the whole sweep); ``ConfigError`` for what cannot
    be split."""
    if args.shard is not None and launch.distributed:
        raise ConfigError("--shard is for runs without torchrun; under torchrun each rank "
                          "takes its shard of the sweep by itself")
    if (args.shard is not None or launch.distributed) and args.resume is not None:
        raise ConfigError("--resume continues one run in one process; drop torchrun/--shard")
    if launch.distributed and args.engine == "reference" and args.seeds * len(args.lr) > 1:
        raise ConfigError("under torchrun the reference loop trains one network, its "
                          "mini-batches split over the ranks; for a sweep use --engine fast")
    if args.shard is not None and args.engine != "fast":
        raise ConfigError("--shard splits a sweep of the fast engine; add --engine fast")
    if args.shard is not None and not args.log_dir:
        raise ConfigError("--shard writes its results into --log-dir; give one")
    return args.shard or (launch.shard if launch.distributed and args.engine == "fast"
                          else None)


def grid(config: TrainConfig, args: argparse.Namespace) -> dict[str, Any]:
    """The whole sweep, as plain data: the shared settings, the learning rates and seeds."""
    shared = {k: v for k, v in asdict(config).items() if k not in ("lr", "seed")}
    return {"config": shared, "lrs": list(args.lr),
            "seeds": list(range(args.seed, args.seed + args.seeds))}


def network_ids(sweep: dict[str, Any]) -> list[str]:
    """The id of each network of a sweep, in the order of its results."""
    return [f"lr={lr!r},seed={seed}" for lr in sweep["lrs"] for seed in sweep["seeds"]]


def train_shard(config: TrainConfig, args: argparse.Namespace, launch: Launch,
                shard: Shard) -> list[TrainResult] | None:
    """Train this shard's networks; under torchrun return everyone's results on rank 0 (None on
    the others), with ``--shard`` write them to the shard's file and return them."""
    sweep = grid(config, args)
    pairs = [(lr, seed) for lr in sweep["lrs"] for seed in sweep["seeds"]]
    mine = shard.take([pairs])[0]
    with SweepBar(config.epochs, len(mine), lambda epoch, records: (
            f"shard {shard}: epoch {epoch:3d}, {len(records)} networks"),
            bars_wanted(args.quiet) and launch.primary) as bar:
        results = (train_many(config, networks=mine, on_epoch=bar.epoch, launch=launch)
                   if mine else [])
    items = [{"id": f"lr={r.config.lr!r},seed={r.config.seed}"} | result_to_dict(r)
             for r in results]
    if not launch.distributed:
        path = write_shard(Path(args.log_dir), shard, "train", sweep, items)
        print(f"\nshard {shard} of the sweep: {len(items)} networks; results in {path}; once "
              f"every shard is done: mnist-mlp-merge {quoted(args.log_dir)}")
        return results
    gathered = gather_json(items, launch)
    if gathered is None:
        return None
    by_id = {item["id"]: item for part in gathered for item in part}
    return [result_from_dict(by_id[i]) for i in network_ids(sweep)]


def train_data_parallel_run(config: TrainConfig, args: argparse.Namespace,
                            launch: Launch) -> list[TrainResult]:
    """The reference loop's one network, each mini-batch split over the ranks."""
    with ProgressBars(config.epochs, epoch_line, bars_wanted(args.quiet) and launch.primary
                      ) as bars:
        return [train_data_parallel(replace(config, device=launch.device(config.device)),
                                    launch, on_epoch=bars.epoch if launch.primary else None,
                                    on_step=bars.step if launch.primary else None)]

