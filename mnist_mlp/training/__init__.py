"""The training layer: one driver, two trainers, and what a run leaves behind.

* ``config``: ``TrainConfig``, its checks, the device;
* ``driver``: the one training driver (``fit``) — data, seeding, resume, run folders,
  checkpoints, TensorBoard, divergence, Ctrl-C, evaluation and records — for either trainer;
* ``reference``: the reference trainer, the SGD loop people read, and ``train``;
* ``fast``: the fast trainer on the fused engine, ``train_many`` and ``resume_sweep``;
* ``sweep``: a sweep's manifest, which makes it resume as one; ``lock``: one writer per run
  folder; ``parallel``: the files of a sweep in shards, merged;
* ``records``: ``EpochRecord``, ``StepInfo``, ``TrainResult``;
* ``evaluation``: a network's loss, predictions and confusion matrix on a split;
* ``checkpoint``: ``last.pt`` / ``best.pt``, written atomically, read with ``weights_only``;
* ``runs``, ``figures``: run folders and TensorBoard logs; ``progress``: the progress bars.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import TrainConfig, resolve_device, resume_config
    from .driver import DivergenceError, TrainingInterrupted
    from .fast import resume_sweep, train_many
    from .records import EpochRecord, StepInfo, TrainResult
    from .reference import train

__all__ = ["DivergenceError", "EpochRecord", "StepInfo", "TrainConfig", "TrainResult",
           "TrainingInterrupted", "resolve_device", "resume_config", "resume_sweep", "train",
           "train_many"]
_HOME = {"TrainConfig": "config", "resolve_device": "config", "resume_config": "config",
         "DivergenceError": "driver", "TrainingInterrupted": "driver", "train_many": "fast",
         "resume_sweep": "fast",
         "EpochRecord": "records", "StepInfo": "records", "TrainResult": "records",
         "train": "reference"}


def __getattr__(name: str) -> Any:
    """``train``, ``TrainConfig``… on first use: ``config`` and ``launch`` load without torch, so
    that the commands parse their options (``--help``, ``--version``) before torch loads."""
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
