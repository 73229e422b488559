"""The training layer: one driver, two trainers, and what a run leaves behind.

``config`` (``TrainConfig``, the device, the CPU threads) ← ``records`` ← ``checkpoints`` ←
``tensorboard`` (run folders, logs) ← ``driver`` (``fit``: everything but the SGD epochs) ← the
trainers ``reference`` (the SGD loop people read, ``train``) and ``fast`` (the fused engine,
``train_many``, sweeps); ``stats`` reads accuracy over seeds; ``parallel`` (torchrun, shards)
needs only ``config`` and ``records``. The names (config, run, grid, sweep, trainer):
docs/training.md#the-training-layer.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .checkpoints import BEST, LAST, Checkpoint, build_model, load_checkpoint, resume_config
    from .config import TrainConfig, cpu_threads, resolve_device, step_threads
    from .driver import DivergenceError, TrainingInterrupted
    from .fast import resume_sweep, train_many
    from .parallel import (
        ONE_PROCESS,
        WHOLE,
        Kind,
        Launch,
        Shard,
        ShardError,
        first_then_others,
        gather_json,
        merge_shards,
        process_group,
        write_shard,
    )
    from .records import EpochRecord, StepInfo, TrainResult
    from .reference import step_for, train, train_epoch
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

_NAMES = {  # module: the public names it holds, loaded on first use
    "config": ("TrainConfig", "resolve_device", "cpu_threads", "step_threads"),
    "checkpoints": ("BEST", "LAST", "Checkpoint", "build_model", "load_checkpoint",
                    "resume_config"),
    "driver": ("DivergenceError", "TrainingInterrupted"),
    "reference": ("train", "train_epoch", "step_for"),
    "fast": ("train_many", "resume_sweep"),
    "records": ("EpochRecord", "StepInfo", "TrainResult"),
    "stats": ("Spread", "spread", "summarize", "diverged", "final_accuracy", "best_accuracy",
              "validated_accuracy", "validated_epoch"),
    "parallel": ("Launch", "ONE_PROCESS", "Shard", "WHOLE", "Kind", "ShardError",
                 "first_then_others", "gather_json", "merge_shards", "process_group",
                 "write_shard"),
}
_HOME = {name: module for module, names in _NAMES.items() for name in names}
__all__ = [
    "BEST", "LAST", "ONE_PROCESS", "WHOLE", "Checkpoint", "DivergenceError", "EpochRecord",
    "Kind", "Launch", "Shard", "ShardError", "Spread", "StepInfo", "TrainConfig", "TrainResult",
    "TrainingInterrupted", "best_accuracy", "build_model", "cpu_threads", "diverged",
    "final_accuracy", "first_then_others", "gather_json", "load_checkpoint", "merge_shards",
    "process_group", "resolve_device", "resume_config", "resume_sweep", "spread", "step_for",
    "step_threads", "summarize", "train", "train_epoch", "train_many", "validated_accuracy",
    "validated_epoch", "write_shard"
]


def __getattr__(name: str) -> Any:
    """``train``, ``TrainConfig``… on first use: ``config`` and ``parallel`` load without
    torch, so that the commands parse their options (``--help``, ``--version``) before
    torch loads."""
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
