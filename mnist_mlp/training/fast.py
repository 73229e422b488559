"""The fast trainer: K networks at once in the fused engine (``mnist_mlp.engine``), and the
manifest that makes a sweep of them resume as one.

``train_many`` is its public entry point: a grid of learning rates × seeds, trained together
under the same driver as the reference loop (``driver.py``), so that each network gets what
``train`` would give it: the same initial weights, the same mini-batch order, the same history,
run folder and checkpoints. ``resume_sweep`` continues a sweep that was stopped, from its
manifest, as one sweep on the engine.

``train_many`` given a manifest writes ``sweep-<date-time>.json`` (``…-shard-I-of-N.json`` for
a shard of ``--shard I/N``) into ``log_dir``, atomically, once the run folders exist and before
the first epoch::

    {"format": "mnist-mlp sweep", "version": 1,
     "grid": {"config": {…}, "lrs": [0.1, 0.5], "seeds": [0, 1, 2]},   # the whole sweep
     "shard": [1, 1],                                                # this process's part
     "networks": [{"lr": 0.1, "seed": 0, "run_dir": "20261125-…_lr0.1_seed0"}, …]}

Run folders are named relative to the manifest's folder. ``resume_sweep`` reads it back
(``sweep_state``), checked as data like a shard file, and continues each network from its latest
checkpoint: ``last.pt``, or ``diverged.pt`` for a network that diverged (restored as it was: it
stays diverged and is not trained again from its last good epoch).
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
from .config import TrainConfig
from .driver import MakeTrainer, Network, TrainingInterrupted, fit
from .parallel import ONE_PROCESS, WHOLE, Launch, Shard
from .records import EpochRecord, Evaluation, RunStart, TrainResult

BACKEND_WORDS = {"native": "compiled CPU loop", "tensor-ops": "tensor operations",
                 "cuda-graphs": "CUDA graphs", "cuda-fused": "fused CUDA kernel"}
"""The engine's backends (``Engine.backend.name``) in words, for a run's first line."""


class FastTrainer:
    """K networks of one architecture, trained by the engine.

    A network that diverges is recorded as it is while the others go on. No figures are logged
    for TensorBoard: for a sweep of K networks they would cost more than the training.
    """

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
    """Train the networks that ``config`` describes — its learning rates × its seeds — all at
    once (``shard``: only this shard's part of them).

    Network (η, s) is initialised and shuffled exactly as ``train(replace(config, lr=η,
    seed=s, seeds=1))`` would do, and its result has the same history and metrics. Its
    ``seconds`` is the wall time of the whole grid's epoch. A network whose loss becomes NaN or
    infinite is kept (its history shows it); if every network diverges, ``DivergenceError`` is
    raised. ``on_epoch(epoch, records)`` is called with the K records of each epoch. With a
    ``log_dir``, each network gets its own run folder with TensorBoard logs and checkpoints.

    ``seeds``, ``lrs``: the grid of these (any seeds) instead of the config's; ``networks``:
    these (η, s) pairs instead (not sharded again). ``dtype``, ``cuda_graph``, ``native``,
    ``fused``: as for ``Engine``; ``launch``: as for ``fit``. ``manifest``: with a ``log_dir``
    (and one process), write the sweep's manifest, recording the grid of the whole sweep and
    ``shard``, the part trained here, so that ``resume_sweep`` continues it; an interruption
    then names it. ``on_start``: as for ``fit``.
    """
    grid = config.grid(lrs, seeds)
    if networks is None:
        networks = shard.take([[(lr, seed) for lr in grid["lrs"] for seed in grid["seeds"]]])[0]
    configs = [replace(config, lr=lr, seed=seed, seeds=1) for lr, seed in networks]
    written: list[Path] = []

    def write(results: list[TrainResult]) -> None:
        assert config.log_dir is not None  # fit calls it only where resumable: with a log_dir
        written.append(write_manifest(config.log_dir, grid, shard,
                                      [Member.of(r) for r in results]))

    resumable = manifest and bool(config.log_dir) and not launch.distributed
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
    """Continue a sweep that was stopped (``sweep_state(manifest)``): every
    network from the checkpoint of its last completed epoch, in its run folder, on the engine —
    to exactly the weights and histories of the sweep had it not stopped (bitwise on the CPU's
    compiled loop). A network that had diverged is restored as it was (``diverged.pt``) and
    stays diverged. ``changes``: the settings a resumed run may change (``epochs``,
    ``device``, ``data_dir``…). Returns the results in the manifest's order. Networks saved at
    different epochs (a sweep killed while writing them) go on in groups, each from its own.
    ``on_start``: as for ``fit`` (called for each group)."""
    checkpoints = state.checkpoints
    configs = [replace(config_of(checkpoint), **(changes or {})) for checkpoint in checkpoints]
    results: list[TrainResult | None] = [None] * len(configs)
    try:
        for epoch in sorted({checkpoint.epoch for checkpoint in checkpoints}):
            group = [k for k, checkpoint in enumerate(checkpoints) if checkpoint.epoch == epoch]
            part = fit([configs[k] for k in group], _trainer(dtype, cuda_graph, native, fused),
                       resume=[_file(checkpoints[k]) for k in group], on_epoch=on_epoch,
                       on_start=on_start)
            for k, result in zip(group, part, strict=True):
                results[k] = result
    except TrainingInterrupted as stop:
        stop.sweep = state.manifest.path
        raise
    return results  # type: ignore[return-value]  # (every network's place filled by its group)


def _file(checkpoint: Checkpoint) -> Path:
    """The file a checkpoint of a sweep was read from."""
    assert checkpoint.path is not None  # read from a file, not captured in memory
    return checkpoint.path


def _trainer(dtype: torch.dtype, cuda_graph: bool, native: bool | None,
             fused: bool | None) -> MakeTrainer:
    return partial(FastTrainer, dtype=dtype, cuda_graph=cuda_graph, native=native, fused=fused)


# ---------------------------------------------------------------------------------------------
# A sweep's manifest: which run folders make up a sweep, so that it resumes as one


FORMAT, VERSION = "mnist-mlp sweep", 1
NAME = re.compile(r"sweep-\d{8}-\d{6}(?:-shard-(\d+)-of-(\d+))?(?:-\d+)?\.json")
"""A manifest's name: ``sweep-<date>-<time>[-shard-I-of-N][-k].json``."""
MAX_BYTES = 16 << 20
"""The largest manifest read: some hundred thousand networks."""


class SweepError(UserError):
    """A sweep manifest that is missing, ambiguous or damaged; the message says what to do."""


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
    """Write the manifest of a sweep whose run folders (under ``log_dir``) exist; returns its
    path, a name no other manifest has."""
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
    """The manifest ``path`` names: the file itself (``.json``), or the one manifest in the
    folder ``path`` (of ``shard``, if given); None where ``path`` is a run folder or a
    checkpoint. ``SweepError`` for a folder of several."""
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
    """The manifest at ``path``, checked as data (a regular file of at most ``MAX_BYTES``, its
    layout, its counts, plain run folder names); ``SweepError`` naming what is wrong."""
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
                and type(network.get("seed")) is int and _plain_name(network.get("run_dir"))):
            return (f"its network {k} is not a learning rate, a seed and the name of a run "
                    "folder beside the manifest")
    return None


def _plain_name(name: Any) -> bool:
    """Whether ``name`` names an entry of the manifest's own folder (no path, no ``..``)."""
    return (isinstance(name, str) and 0 < len(name) <= 255 and name not in (".", "..")
            and "/" not in name and "\\" not in name and "\0" not in name)


@dataclass(frozen=True)
class SweepState:
    """A sweep as it was left: its manifest, and the latest checkpoint of each of its networks,
    in the manifest's order."""

    manifest: Manifest
    checkpoints: list[Checkpoint]


def sweep_state(path: str | os.PathLike) -> SweepState:
    """The sweep of the manifest at ``path`` as it was left, checked: each network's latest
    checkpoint is its own (its η and seed)."""
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
    """The checkpoint of the network's last completed epoch in its run folder: ``last.pt``, or
    ``diverged.pt`` where that is later; ``CheckpointError`` where there is none."""
    found = []
    for name in (LAST, DIVERGED):
        if (member.run_dir / name).exists():
            found.append(load_checkpoint(member.run_dir / name))
    if not found:
        raise CheckpointError(f"no checkpoint in {member.run_dir} (the network with lr "
                              f"{member.lr:g} and seed {member.seed}): it completed no epoch; "
                              "start the sweep again")
    return max(found, key=lambda checkpoint: checkpoint.epoch)
