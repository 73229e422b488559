"""mnist-mlp: the textbook 784-l-10 network on MNIST, trained by SGD and backpropagation. Its
layers, each calling only those before it: ``textbook``, ``data``, ``engine``, ``training``,
``inference``, ``cli`` (what each holds: docs/layout.md)."""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import TYPE_CHECKING, Any

try:
    __version__ = importlib.metadata.version("mnist-mlp")  # pyproject.toml's, the one source
except importlib.metadata.PackageNotFoundError:  # a checkout used without pip install
    __version__ = "unknown (not installed: pip install -e .)"

if TYPE_CHECKING:
    from .textbook.model import MLP
    from .training import TrainConfig, TrainResult, train, train_many

__all__ = ["MLP", "TrainConfig", "TrainResult", "__version__", "train", "train_many"]
_HOME = {"MLP": "textbook.model", "TrainConfig": "training", "TrainResult": "training",
         "train": "training", "train_many": "training"}


def __getattr__(name: str) -> Any:
    """``MLP``, ``TrainConfig``, ``train``… on first use: importing the package alone loads no
    torch, so that a command can answer Ctrl-C while torch loads."""
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
