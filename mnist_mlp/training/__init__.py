"""The training layer: one driver, two trainers, and what a run leaves behind.

* ``config``: ``TrainConfig``, its checks, the device;
* ``driver``: the one training driver (``fit``) — data, seeding, resume, run folders,
  checkpoints, TensorBoard, divergence, Ctrl-C, evaluation and records — for either trainer;
* ``reference``: the reference trainer, the SGD loop people read, and ``train``;
* ``fast``: the fast trainer on the fused engine, ``train_many`` and ``resume_sweep``;
* ``sweep``: a sweep's manifest, which makes it resume as one; ``lock``: one writer per run
  folder; ``shards``: the files of a sweep in shards, merged;
* ``records``: ``EpochRecord``, ``StepInfo``, ``TrainResult``; ``stats``: the spread of the
  test accuracy over seeds, read three ways (final, best, validation-chosen);
* ``evaluation``: a network's loss, predictions and confusion matrix on a split;
* ``checkpoint``: ``last.pt`` / ``best.pt``, written atomically, read with ``weights_only``;
* ``runs``, ``figures``: run folders and TensorBoard logs; ``progress``: the progress bars.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .checkpoint import BEST, LAST, Checkpoint, build_model, load_checkpoint
    from .config import TrainConfig, resolve_device, resume_config
    from .driver import DivergenceError, TrainingInterrupted
    from .fast import resume_sweep, train_many
    from .launch import (
        ONE_PROCESS,
        WHOLE,
        Launch,
        Shard,
        first_then_others,
        gather_json,
        process_group,
    )
    from .progress import CountBar, bars_wanted
    from .records import EpochRecord, StepInfo, TrainResult
    from .reference import step_for, train, train_epoch
    from .shards import Kind, ShardError, merge_shards, write_shard
    from .stats import (
        Spread,
        best_accuracy,
        diverged,
        final_accuracy,
        spread,
        summarize,
        validated_accuracy,
        validated_epoch,
    )
    from .threads import cpu_threads, step_threads

_HOME = {
    # what a user who trains networks calls
    "TrainConfig": "config", "resolve_device": "config", "resume_config": "config",
    "DivergenceError": "driver", "TrainingInterrupted": "driver", "train": "reference",
    "train_many": "fast", "resume_sweep": "fast",
    "EpochRecord": "records", "StepInfo": "records", "TrainResult": "records",
    "BEST": "checkpoint", "LAST": "checkpoint", "Checkpoint": "checkpoint",
    "build_model": "checkpoint", "load_checkpoint": "checkpoint",
    # statistics over seeds: final, best and validation-chosen accuracy
    "Spread": "stats", "spread": "stats", "summarize": "stats", "diverged": "stats",
    "final_accuracy": "stats", "best_accuracy": "stats", "validated_accuracy": "stats",
    "validated_epoch": "stats",
    # running past one process (torchrun, shards of a sweep), progress bars
    "Launch": "launch", "ONE_PROCESS": "launch", "Shard": "launch", "WHOLE": "launch",
    "first_then_others": "launch", "gather_json": "launch", "process_group": "launch",
    "Kind": "shards", "ShardError": "shards", "merge_shards": "shards", "write_shard": "shards",
    "CountBar": "progress", "bars_wanted": "progress",
    # the reference loop's epoch, step and threads (what the benchmark times)
    "step_for": "reference", "train_epoch": "reference", "cpu_threads": "threads",
    "step_threads": "threads",
}
__all__ = [
    "BEST",
    "LAST",
    "ONE_PROCESS",
    "WHOLE",
    "Checkpoint",
    "CountBar",
    "DivergenceError",
    "EpochRecord",
    "Kind",
    "Launch",
    "Shard",
    "ShardError",
    "Spread",
    "StepInfo",
    "TrainConfig",
    "TrainResult",
    "TrainingInterrupted",
    "bars_wanted",
    "best_accuracy",
    "build_model",
    "cpu_threads",
    "diverged",
    "final_accuracy",
    "first_then_others",
    "gather_json",
    "load_checkpoint",
    "merge_shards",
    "process_group",
    "resolve_device",
    "resume_config",
    "resume_sweep",
    "spread",
    "step_for",
    "step_threads",
    "summarize",
    "train",
    "train_epoch",
    "train_many",
    "validated_accuracy",
    "validated_epoch",
    "write_shard",
]


def __getattr__(name: str) -> Any:
    """``train``, ``TrainConfig``… on first use: ``config`` and ``launch`` load without torch, so
    that the commands parse their options (``--help``, ``--version``) before torch loads."""
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
