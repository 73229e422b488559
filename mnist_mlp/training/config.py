"""What defines a run and where it runs: ``TrainConfig`` and its checks, the device
(``resolve_device``, ``why_device``, ``check_memory``) and the CPU threads of the SGD steps.
It loads without torch, so that the commands build their options before torch has loaded.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..textbook.names import (
    HIDDEN_ACTIVATION_NAMES,
    INIT_NAMES,
    LOSS_NAMES,
    OUTPUT_ACTIVATION_NAMES,
)

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class TrainConfig:
    """A run: one network, or a grid of every η of ``lr`` (a tuple) × ``seeds`` seeds sharing
    every other setting (``networks()``: each one's own). The defaults are the chapter's recipe
    (after Nielsen): l = 30 sigmoid, softmax output, the cross-entropy (35) with both terms,
    η = 0.5, mini-batches of 10, 30 epochs on the first 50,000 training images."""

    hidden_size: int = 30
    activation: str = "sigmoid"
    output_activation: str = "softmax"
    loss: str = "binary_cross_entropy"
    init: str = "pytorch"
    lr: float | tuple[float, ...] = 0.5  # η; a tuple: a network for each (with each seed)
    batch_size: int = 10
    epochs: int = 30
    seed: int = 0  # of the (first) network: its initial weights and its mini-batches
    seeds: int = 1  # networks for each η, seeded seed, seed + 1, …
    device: str = "auto"
    data_dir: str | None = None
    train_size: int | None = None
    validation_size: int = 10_000
    log_dir: str | None = "runs"
    log_every: int = 500
    checkpoint_every: int = 1  # epochs between last.pt/best.pt (and the last, and at a stop)
    evaluate_train_every: int = 1  # epochs between evaluations of the whole training set (and
    # the last; the others record only the mean mini-batch loss): a sweep saves a forward pass

    @property
    def lrs(self) -> tuple[float, ...]:
        """The learning rates of the run."""
        return self.lr if isinstance(self.lr, tuple) else (self.lr,)

    @property
    def network_lr(self) -> float:
        """The η of a configuration of one network; ValueError for a grid."""
        (lr,) = self.lrs
        return lr

    @property
    def seed_range(self) -> range:
        """The seeds of the networks of each learning rate."""
        return range(self.seed, self.seed + self.seeds)

    def networks(self) -> list[TrainConfig]:
        """Each network's own configuration (one η, one seed), η by η, seed by seed."""
        return [replace(self, lr=lr, seed=seed, seeds=1)
                for lr in self.lrs for seed in self.seed_range]

    def shared(self) -> dict[str, Any]:
        """The settings the networks share (all but ``PER_NETWORK``), as plain data."""
        return {k: v for k, v in asdict(self).items() if k not in PER_NETWORK}

    def grid(self, lrs: Sequence[float] | None = None,
             seeds: Sequence[int] | None = None) -> dict[str, Any]:
        """The networks as a sweep's manifest and shards record them (``lrs``, ``seeds``: these
        instead of the run's own)."""
        return {"config": self.shared(), "lrs": list(self.lrs if lrs is None else lrs),
                "seeds": list(self.seed_range if seeds is None else seeds)}

    def validate(self) -> None:
        """``ConfigError`` naming the first impossible setting, before anything is loaded."""
        self._check_types()
        for name, lowest in _LOWEST.items():
            value = getattr(self, name)
            if value is not None and value < lowest:
                words = "at least 1" if lowest else "0 or more"
                raise ConfigError(f"{name} must be {words}, got {value}")
        for seed in (self.seed, self.seed_range[-1]):
            if not 0 <= seed < SEEDS:
                raise ConfigError(f"seed must lie between 0 and 2**64 − 1, got {seed}")
        for lr in self.lrs:
            if not (math.isfinite(lr) and 0 < lr <= LARGEST_LR):
                raise ConfigError(f"lr must be a positive number no larger than "
                                  f"{LARGEST_LR:.3g} (the largest float32), got {lr:g}")
        if len(set(self.lrs)) < len(self.lrs):
            raise ConfigError(f"lr lists a learning rate twice ({', '.join(map(str, self.lrs))})"
                              "; give each once")
        if (count := len(self.lrs) * self.seeds) > MAX_NETWORKS:  # before any is listed
            raise ConfigError(f"{count:,} networks ({len(self.lrs)} η × {self.seeds:,} seeds) "
                              f"are more than one sweep holds, {MAX_NETWORKS:,}; sweep fewer "
                              "seeds or learning rates")
        if self.train_size is not None:
            check_batch_size(self.batch_size, self.train_size)
        for name, choices in (("activation", HIDDEN_ACTIVATION_NAMES),
                              ("output_activation", OUTPUT_ACTIVATION_NAMES),
                              ("loss", LOSS_NAMES), ("init", INIT_NAMES)):
            if getattr(self, name) not in choices:
                raise ConfigError(f"unknown {name} {getattr(self, name)!r}; "
                                  f"choose one of {', '.join(choices)}")

    def _check_types(self) -> None:
        """``ConfigError`` for a setting of the wrong type, e.g. ``lr="0.5"``, ``epochs=1.5``."""
        for f in fields(self):
            value, kinds = getattr(self, f.name), _KINDS[f.name]
            if f.name == "lr" and isinstance(value, tuple) and value:
                value = next((v for v in value if _wrong(v, kinds)), value[0])
            if _wrong(value, kinds):
                wanted = " or ".join("None" if k is type(None) else k.__name__ for k in kinds)
                plural = " (or a tuple of them)" if f.name == "lr" else ""
                raise ConfigError(f"{f.name} must be {wanted}{plural}, got {value!r}")


def _wrong(value: Any, kinds: tuple[type, ...]) -> bool:
    return isinstance(value, bool) or not isinstance(value, kinds)


_KINDS: dict[str, tuple[type, ...]] = {
    "hidden_size": (int,), "activation": (str,), "output_activation": (str,), "loss": (str,),
    "init": (str,), "lr": (int, float), "batch_size": (int,), "epochs": (int,), "seed": (int,),
    "seeds": (int,), "device": (str,), "data_dir": (str, type(None)),
    "train_size": (int, type(None)), "validation_size": (int,), "log_dir": (str, type(None)),
    "log_every": (int,), "checkpoint_every": (int,), "evaluate_train_every": (int,)}
_LOWEST = {"hidden_size": 1, "batch_size": 1, "epochs": 1, "seeds": 1, "log_every": 1,
           "checkpoint_every": 1, "evaluate_train_every": 1, "train_size": 1,
           "validation_size": 0}  # (None: no check)
PER_NETWORK = ("lr", "seed", "seeds")  # the networks of one run share all other settings
SEEDS = 2**64  # seeds are 0 … 2**64 − 1, the range of torch's generators
LARGEST_LR = float.fromhex("0x1.fffffep+127")  # η must fit in float32: its largest value
MAX_NETWORKS = 1_000_000  # in one sweep (its grid is listed): 100,000 shards of 10


def check_batch_size(batch_size: int, n_train: int) -> None:
    """Refuse mini-batches larger than the training set (silently one full batch per epoch)."""
    if batch_size > n_train:
        raise ConfigError(f"batch_size {batch_size} is larger than the {n_train} training "
                          "images; choose a smaller --batch-size (or more --train-size)")


def resolve_device(name: str) -> torch.device:
    """``"auto"`` → cuda if available, else cpu (MPS only asked for); other names if available."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"unknown device {name!r} (or one this package does not run on); "
                          "use auto, cpu, cuda, cuda:N or mps")
    backend = {"cuda": torch.cuda, "mps": torch.backends.mps}.get(device.type)
    if backend is not None and not backend.is_available():
        raise ConfigError(f"device {device.type} asked for, but {device.type.upper()} is not "
                          "available here; use --device cpu")
    if device.type == "cuda" and (device.index or 0) >= (count := torch.cuda.device_count()):
        raise ConfigError(f"device {name} asked for, but this machine has {count} GPU(s), "
                          f"cuda:0 to cuda:{count - 1}; use one of them, or --device cuda")
    return device


def why_device(name: str) -> str:
    """Why ``resolve_device(name)`` takes its device, in words for a run's first line."""
    if name != "auto":
        return "asked for"
    import torch

    if torch.cuda.is_available():
        return "auto: a GPU is here"
    if torch.backends.mps.is_available():
        return "auto: no CUDA GPU here; MPS runs only when asked for (--device mps, untested)"
    return "auto: no GPU here"


def check_memory(config: TrainConfig, networks: int, device: torch.device) -> None:
    """Refuse networks whose weights and gradients alone would not fit in the device's memory."""
    from ..textbook.model import INPUT_SIZE, NUM_CLASSES

    parameters = (INPUT_SIZE + 1) * config.hidden_size + (config.hidden_size + 1) * NUM_CLASSES
    needed = networks * parameters * BYTES_PER_PARAMETER
    available = _memory(device)
    if available is not None and needed > available:
        count = f"{networks} networks" if networks > 1 else "the network"
        fewer = "fewer networks (--seeds, --lr, --shard) or " if networks > 1 else ""
        raise ConfigError(f"hidden_size {config.hidden_size} needs about {_size(needed)} for the "
                          f"weights and gradients of {count}, more than the {_size(available)} "
                          f"of memory on {device}; choose {fewer}a smaller --hidden")


BYTES_PER_PARAMETER = 3 * 4  # float32: the parameter, its gradient (or copy), a temporary


def _memory(device: torch.device) -> int | None:
    """The memory of ``device`` in bytes (None where it cannot be told)."""
    if device.type == "cuda":
        import torch

        return torch.cuda.get_device_properties(device).total_memory
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _size(count: float) -> str:
    """Bytes in words: ``23 GB``, ``9.4 TB``."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if count < 1000:
            return f"{count:.3g} {unit}"
        count /= 1000
    return f"{count:.3g} PB"


ONE_THREAD_BELOW = 30  # mini-batches smaller than this are trained on one CPU thread


def step_threads(batch_size: int) -> int | None:
    """CPU threads for SGD steps on mini-batches of ``batch_size``: 1 where they are too small to
    share among threads (docs/speed.md#the-reference-loop), else torch's setting (None)."""
    return 1 if batch_size < ONE_THREAD_BELOW else None


@contextmanager
def cpu_threads(threads: int | None) -> Iterator[None]:
    """Run the block with torch on ``threads`` CPU threads (None: unchanged), then restore."""
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
