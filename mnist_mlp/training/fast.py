"""The fast trainer: K networks at once in the fused engine (``mnist_mlp.engine``), under the
same driver as the reference loop, so that each network gets what ``train`` would give it (its
initial weights, mini-batch order, history, run folder, checkpoints). ``train_many`` trains a
grid; ``resume_sweep`` continues a stopped sweep from its manifest, whose format is in
docs/training.md#a-sweeps-manifest.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..data import DigitTensors
from ..engine import Engine
from ..errors import UserError
from ..files import FolderError, JSONFileError, read_json, write_json
from ..textbook.model import MLP
from .checkpoints import (
    CONFIG,
    DIVERGED,
    LAST,
    Checkpoint,
    CheckpointError,
    config_of,
    load_checkpoint,
)
from .config import LARGEST_LR, TrainConfig
from .driver import MakeTrainer, Network, TrainingInterrupted, fit
from .parallel import ONE_PROCESS, WHOLE, Launch, Shard
from .records import EpochRecord, Evaluation, RunStart, TrainResult

# the engine's backends (``Engine.backend.name``) in words, for a run's first line
BACKEND_WORDS = {"native": "compiled CPU loop", "tensor-ops": "tensor operations",
                 "cuda-graphs": "CUDA graphs", "cuda-fused": "fused CUDA kernel"}


class FastTrainer:
    """K networks of one architecture, trained by the engine: a diverged network is recorded
    as it is while the others go on; no figures (for K networks they cost more than training)."""

    name = "fast"
    stops_at_first_divergence = False
    logs_figures = False

    def __init__(self, networks: list[Network], train: DigitTensors, device: torch.device,
                 dtype: torch.dtype = torch.float32, cuda_graph: bool = True,
                 native: bool | None = None, fused: bool | None = None) -> None:
        self.config = networks[0].config
        self.engine = Engine([n.model for n in networks], [n.config.network_lr for n in networks],
                             self.config.loss, device, dtype, cuda_graph, native, fused)
        backend = self.engine.backend.name
        self.description = f"fast engine ({BACKEND_WORDS.get(backend, backend)})"
        self.generators = [n.shuffle for n in networks]
        training = train.with_target_vectors()
        self.images, self.targets = training.images.to(dtype), training.labels.to(dtype)

    def epoch(self, on_step: Callable[[Tensor], None]) -> Tensor:
        return self.engine.epoch(self.images, self.targets, self.config.batch_size,
                                 self.generators).cpu()

    def evaluate(self, data: DigitTensors) -> list[Evaluation]:
        losses, confusions = self.engine.evaluate(data)
        return [Evaluation(loss, confusion)
                for loss, confusion in zip(losses.tolist(), confusions, strict=True)]

    def models(self) -> list[MLP]:
        return self.engine.models()


def train_many(config: TrainConfig, seeds: Sequence[int] | None = None,
               lrs: Sequence[float] | None = None,
               on_epoch: Callable[[int, list[EpochRecord]], None] | None = None,
               dtype: torch.dtype = torch.float32, cuda_graph: bool = True,
               native: bool | None = None, networks: Sequence[tuple[float, int]] | None = None,
               launch: Launch = ONE_PROCESS, fused: bool | None = None,
               manifest: bool = False, shard: Shard = WHOLE,
               on_start: Callable[[RunStart], None] | None = None) -> list[TrainResult]:
    """Train ``config``'s η × seeds at once (``shard``: its part), network (η, s) as
    ``train(replace(config, lr=η, seed=s, seeds=1))`` would, its ``seconds`` the whole grid's.
    A diverged network is kept; all diverged: ``DivergenceError``. ``seeds``, ``lrs``: this grid
    instead; ``networks``: these (η, s) pairs (not sharded again); ``dtype`` … ``fused``: as for
    ``Engine``; ``manifest``: write the sweep's manifest (with a ``log_dir``; under torchrun,
    each rank its share's), so that ``resume_sweep`` continues it and an interruption names it."""
    grid = config.grid(lrs, seeds)
    if networks is None:
        networks = shard.take([[(lr, seed) for lr in grid["lrs"] for seed in grid["seeds"]]])[0]
    configs = [replace(config, lr=lr, seed=seed, seeds=1) for lr, seed in networks]
    written: list[Path] = []

    def write(results: list[TrainResult]) -> None:
        assert config.log_dir is not None  # fit calls it only where resumable: with a log_dir
        written.append(write_manifest(config.log_dir, grid, shard,
                                      [Member.of(r) for r in results]))

    resumable = manifest and bool(config.log_dir)
    try:
        return fit(configs, _trainer(dtype, cuda_graph, native, fused), on_epoch=on_epoch,
                   launch=launch, on_folders=write if resumable else None, on_start=on_start)
    except TrainingInterrupted as stop:
        stop.sweep = written[0] if written else None
        raise


def resume_sweep(state: SweepState, changes: dict[str, Any] | None = None,
                 on_epoch: Callable[[int, list[EpochRecord]], None] | None = None,
                 dtype: torch.dtype = torch.float32, cuda_graph: bool = True,
                 native: bool | None = None, fused: bool | None = None,
                 on_start: Callable[[RunStart], None] | None = None) -> list[TrainResult]:
    """Continue a stopped sweep (``sweep_state(manifest)``) on the engine, each network from its
    last completed epoch in its run folder, to the sweep's weights had it not stopped (a diverged
    one stays so); the results in the manifest's order. ``changes``: ``epochs``, ``device``…
    Networks saved at different epochs go on in groups (``on_start`` for each)."""
    checkpoints = state.checkpoints
    configs = [replace(config_of(checkpoint), **(changes or {})) for checkpoint in checkpoints]
    results: dict[int, TrainResult] = {}
    try:
        for epoch in sorted({checkpoint.epoch for checkpoint in checkpoints}):
            group = [k for k, checkpoint in enumerate(checkpoints) if checkpoint.epoch == epoch]
            part = fit([configs[k] for k in group], _trainer(dtype, cuda_graph, native, fused),
                       resume=[_file(checkpoints[k]) for k in group], on_epoch=on_epoch,
                       on_start=on_start)
            results.update(zip(group, part, strict=True))
    except TrainingInterrupted as stop:
        stop.sweep = state.manifest.path
        raise
    return [results[k] for k in range(len(configs))]


def _file(checkpoint: Checkpoint) -> Path:
    assert checkpoint.path is not None  # a sweep's checkpoints are read from files
    return checkpoint.path


def _trainer(dtype: torch.dtype, cuda_graph: bool, native: bool | None,
             fused: bool | None) -> MakeTrainer:
    return partial(FastTrainer, dtype=dtype, cuda_graph=cuda_graph, native=native, fused=fused)


# ---------------------------------------------------------------------------------------------
# A sweep's manifest: which run folders make up a sweep, so that it resumes as one


FORMAT, VERSION = "mnist-mlp sweep", 1
# sweep-<date>-<time>[-shard-I-of-N][-k].json
NAME = re.compile(r"sweep-\d{8}-\d{6}(?:-shard-(\d+)-of-(\d+))?(?:-\d+)?\.json")
MAX_BYTES = 16 << 20  # the largest manifest read: some hundred thousand networks


class SweepError(UserError):
    """A sweep manifest that is missing, ambiguous or damaged."""


@dataclass(frozen=True)
class Member:
    """One network of a sweep: its learning rate, its seed and its run folder."""

    lr: float
    seed: int
    run_dir: Path

    @classmethod
    def of(cls, result: TrainResult) -> Member:
        """The network of ``result``, once it has its run folder."""
        assert result.run_dir is not None
        return cls(result.config.network_lr, result.config.seed, result.run_dir)


@dataclass(frozen=True)
class Manifest:
    """A sweep as its manifest at ``path`` describes it."""

    path: Path
    grid: dict[str, Any]
    shard: Shard
    networks: list[Member]


def write_manifest(log_dir: str | os.PathLike, grid: dict[str, Any], shard: Shard,
                   networks: list[Member]) -> Path:
    """Write a sweep's manifest under ``log_dir``, with its run folders; its path, a new name."""
    folder = Path(log_dir)
    part = f"-shard-{shard.index + 1}-of-{shard.count}" if shard.count > 1 else ""
    stem = f"sweep-{datetime.now():%Y%m%d-%H%M%S}{part}"
    data = {"format": FORMAT, "version": VERSION, "grid": grid,
            "shard": [shard.index + 1, shard.count],
            "networks": [{"lr": n.lr, "seed": n.seed, "run_dir": n.run_dir.name}
                         for n in networks]}
    try:
        for suffix in ["", *(f"-{i}" for i in range(2, 1000))]:
            path = folder / f"{stem}{suffix}.json"
            try:  # the name, taken exclusively; then the content, atomically
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            except FileExistsError:
                continue
            write_json(path, data)
            return path
    except OSError as error:
        raise FolderError(f"cannot write the sweep's manifest in {folder}: "
                          f"{error.strerror or error}; free some space or choose another "
                          "--log-dir") from None
    raise FolderError(f"too many sweeps named {stem} in {folder}; choose another --log-dir")


def find_manifest(path: str | os.PathLike, shard: Shard | None = None) -> Path | None:
    """The manifest ``path`` names (a ``.json``, or the one in folder ``path``, of ``shard`` if
    given); None for a run folder or a checkpoint; ``SweepError`` for a folder of several."""
    path = Path(path)
    try:
        if path.suffix == ".json" and not path.is_dir():
            return path
        if not path.is_dir() or (path / CONFIG).exists():
            return None
        found = sorted(p for p in path.glob("sweep-*.json") if NAME.fullmatch(p.name))
    except OSError as error:  # a folder one may not enter, a name too long
        raise SweepError(f"cannot look into {path}: {error.strerror or error}; give a run "
                         "folder, a checkpoint or a sweep's manifest you can read") from None
    if shard is not None:
        part = (None, None) if shard.count == 1 else (str(shard.index + 1), str(shard.count))
        found = [p for p in found if (m := NAME.fullmatch(p.name)) and m.groups() == part]
    if len(found) > 1:
        raise SweepError(f"{path} holds {len(found)} sweeps ({found[0].name}, "
                         f"{found[1].name}…); give the one to resume: --resume {found[-1]}")
    return found[0] if found else None


def read_manifest(path: str | os.PathLike) -> Manifest:
    """The manifest at ``path``, checked as data; ``SweepError`` naming what is wrong."""
    path = Path(path)
    try:
        data = read_json(path, MAX_BYTES)
    except JSONFileError as error:
        raise SweepError(f"{path} is not a sweep's manifest: {error.problem}; give the "
                         "sweep-….json the interrupted sweep printed") from None
    problem = _problem(data)
    if problem:
        raise SweepError(f"{path} is not a whole sweep manifest of mnist-mlp: {problem}")
    index, count = data["shard"]
    return Manifest(path, data["grid"], Shard(index - 1, count),
                    [Member(n["lr"], n["seed"], path.parent / n["run_dir"])
                     for n in data["networks"]])


def _problem(data: Any) -> str | None:
    """What is wrong with the layout of a manifest's data (None: nothing)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return f"it has no {FORMAT!r} marker"
    if type(data.get("version")) is not int or data["version"] != VERSION:
        return f"it is not of format version {VERSION}"
    shard, networks = data.get("shard"), data.get("networks")
    if not (isinstance(shard, list) and len(shard) == 2 and all(type(n) is int for n in shard)
            and 1 <= shard[0] <= shard[1]):
        return "its shard is not I/N"
    if not isinstance(data.get("grid"), dict) or not isinstance(networks, list) or not networks:
        return "its grid or its networks are missing"
    for k, network in enumerate(networks, start=1):
        if not (isinstance(network, dict) and type(network.get("lr")) in (int, float)
                and 0 < network["lr"] <= LARGEST_LR and type(network.get("seed")) is int
                and _plain_name(network.get("run_dir"))):
            return (f"its network {k} is not a learning rate, a seed and the name of a run "
                    "folder beside the manifest")
    return None


def _plain_name(name: Any) -> bool:
    """Whether ``name`` is an entry of the manifest's own folder (no path, no ``..``)."""
    return (isinstance(name, str) and 0 < len(name) <= 255 and name not in (".", "..")
            and "/" not in name and "\\" not in name and "\0" not in name)


@dataclass(frozen=True)
class SweepState:
    """A sweep as it was left: its manifest, each network's latest checkpoint (in order)."""

    manifest: Manifest
    checkpoints: list[Checkpoint]


def sweep_state(path: str | os.PathLike) -> SweepState:
    """The sweep at ``path`` as it was left, each latest checkpoint checked to be its own."""
    manifest = read_manifest(path)
    checkpoints = [latest_checkpoint(member) for member in manifest.networks]
    for member, checkpoint in zip(manifest.networks, checkpoints, strict=True):
        if (checkpoint.config.get("lr"), checkpoint.config.get("seed")) != (member.lr,
                                                                            member.seed):
            raise SweepError(f"{checkpoint.path} is not the checkpoint of the network with lr "
                             f"{member.lr:g} and seed {member.seed} that {manifest.path} "
                             "lists; give the sweep's own manifest")
    return SweepState(manifest, checkpoints)


def latest_checkpoint(member: Member) -> Checkpoint:
    """The later of its ``last.pt`` and ``diverged.pt``; ``CheckpointError`` for none."""
    found = [load_checkpoint(member.run_dir / name) for name in (LAST, DIVERGED)
             if (member.run_dir / name).exists()]
    if not found:
        raise CheckpointError(f"no checkpoint in {member.run_dir} (the network with lr "
                              f"{member.lr:g} and seed {member.seed}): it completed no epoch; "
                              "start the sweep again")
    return max(found, key=lambda checkpoint: checkpoint.epoch)
