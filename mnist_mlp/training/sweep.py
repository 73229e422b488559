"""A sweep's manifest: which run folders make up a sweep of the fast engine, so that a sweep
that was stopped resumes as one sweep, with one command.

``train_many`` given a manifest writes ``sweep-<date-time>.json`` (``…-shard-I-of-N.json`` for
a shard of ``--shard I/N``) into ``log_dir``, atomically, once the run folders exist and before
the first epoch::

    {"format": "mnist-mlp sweep", "version": 1,
     "grid": {"config": {…}, "lrs": [0.1, 0.5], "seeds": [0, 1, 2]},   # the whole sweep
     "shard": [1, 1],                                                # this process's part
     "networks": [{"lr": 0.1, "seed": 0, "run_dir": "20261125-…_lr0.1_seed0"}, …]}

Run folders are named relative to the manifest's folder. ``resume_sweep`` (``fast.py``) reads
it back, checked as data like a shard file, and continues each network from its latest
checkpoint: ``last.pt``, or ``diverged.pt`` for a network that diverged (restored as it was:
it stays diverged and is not trained again from its last good epoch).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..files import FolderError, JSONFileError, read_json, write_json
from .checkpoint import DIVERGED, LAST, Checkpoint, CheckpointError, load_checkpoint
from .launch import Shard
from .runs import CONFIG

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
        found = [p for p in found if NAME.fullmatch(p.name).groups() == part]
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
