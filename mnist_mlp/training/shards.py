"""The files of a sweep run in shards (``--shard I/N``), and merging them back into one.

Each shard writes ``shard-I-of-N.json`` (atomically) into the sweep's folder: what the whole
sweep is (``grid``: the same in every shard), and the results of its own networks (``items``,
each with an ``id`` naming its network). ``merge`` reads the N files of a folder and gives the
grid and every item — refusing a missing shard, a shard twice, shards of different sweeps, and
a network found twice or never.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..files import write_json
from .config import TrainConfig
from .launch import Shard
from .records import EpochRecord, TrainResult

FORMAT, VERSION = "mnist-mlp shard", 1
NAME = re.compile(r"shard-(\d+)-of-(\d+)\.json")


class ShardError(UserError):
    """Shard files that do not make one whole sweep; the message says what is wrong."""


def shard_path(folder: Path, shard: Shard) -> Path:
    return folder / f"shard-{shard.index + 1}-of-{shard.count}.json"


def write_shard(folder: Path, shard: Shard, kind: str, grid: dict[str, Any],
                items: Sequence[dict[str, Any]], extra: Any = None) -> Path:
    """Write this shard's file (``extra``: anything more the shard has to say); returns its
    path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = shard_path(folder, shard)
    write_json(path, {"format": FORMAT, "version": VERSION, "kind": kind,
                      "shard": [shard.index + 1, shard.count], "grid": grid,
                      "items": list(items), "extra": extra})
    return path


def merge(folder: Path, kind: str, expected: Callable[[dict[str, Any]], Sequence[str]]
          ) -> tuple[dict[str, Any], list[dict[str, Any]], list[Any]]:
    """The grid, the items and the extras (in shard order) of the N shards of a sweep in
    ``folder``, checked: all N shards, each once, of one sweep of ``kind``, whose items
    together are those the grid asks for (``expected(grid)``: their ids), each exactly once."""
    files = sorted(p for p in folder.glob("shard-*-of-*.json") if NAME.fullmatch(p.name))
    if not files:
        raise ShardError(f"no shard files (shard-I-of-N.json) in {folder}; give the folder "
                         "the --shard runs wrote them to")
    shards = [_read(path, kind) for path in files]
    counts = {data["shard"][1] for data in shards}
    if len(counts) != 1:
        raise ShardError(f"the shard files in {folder} split sweeps in different numbers of "
                         f"shards ({', '.join(map(str, sorted(counts)))}); keep one sweep's")
    (count,) = counts
    numbers = sorted(data["shard"][0] for data in shards)
    missing = sorted(set(range(1, count + 1)) - set(numbers))
    if missing:
        raise ShardError(f"shard {', '.join(f'{i}/{count}' for i in missing)} missing in "
                         f"{folder}; run it (--shard I/{count}) before merging")
    grids = {json.dumps(data["grid"], sort_keys=True) for data in shards}
    if len(grids) != 1:
        raise ShardError(f"the shard files in {folder} belong to different sweeps (their "
                         "settings differ); merge one sweep's shards at a time")
    items = [item for data in shards for item in data["items"]]
    _check_ids([item.get("id") for item in items], expected(shards[0]["grid"]), folder)
    shards.sort(key=lambda data: data["shard"][0])
    return shards[0]["grid"], items, [data.get("extra") for data in shards]


def _read(path: Path, kind: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        assert data["format"] == FORMAT and data["version"] == VERSION
        shard, grid, items = data["shard"], data["grid"], data["items"]
        assert isinstance(grid, dict) and isinstance(items, list)
        assert [type(n) for n in shard] == [int, int] and 1 <= shard[0] <= shard[1]
    except (OSError, ValueError, KeyError, TypeError, AssertionError):
        raise ShardError(f"{path} is not a shard file of mnist-mlp (or cannot be read)"
                         ) from None
    if NAME.fullmatch(path.name).groups() != tuple(str(n) for n in shard):
        raise ShardError(f"{path} holds shard {shard[0]}/{shard[1]}, not the one its name says")
    if data["kind"] != kind:
        raise ShardError(f"{path} is a shard of a {data['kind']} sweep, not of a {kind} one")
    return data


def _check_ids(found: list[Any], expected: Sequence[str], folder: Path) -> None:
    seen, twice = set(), set()
    for item in found:
        (twice if item in seen else seen).add(item)
    never = [item for item in expected if item not in seen]
    extra = sorted(str(item) for item in seen - set(expected))
    for what, ids in (("twice", sorted(map(str, twice))), ("never", never),
                      ("unasked for", extra)):
        if ids:
            raise ShardError(f"the shards in {folder} hold network {ids[0]} {what}"
                             f"{f' (and {len(ids) - 1} more)' if len(ids) > 1 else ''}; "
                             "rerun the sweep's shards with the same settings")


def result_to_dict(result: TrainResult) -> dict[str, Any]:
    """A result as plain data, without its model: configuration, history, final test metrics
    and run folder (what a shard of a sweep sends or writes)."""
    return {"config": asdict(result.config), "history": [r.to_dict() for r in result.history],
            "metrics": None if result.metrics is None else result.metrics.to_dict(),
            "run_dir": None if result.run_dir is None else str(result.run_dir)}


def result_from_dict(data: dict[str, Any]) -> TrainResult:
    """The result of ``result_to_dict``, without its model (its metrics kept only as data)."""
    return TrainResult(model=None, config=TrainConfig(**data["config"]),  # type: ignore[arg-type]
                       history=[EpochRecord.from_dict(r) for r in data["history"]],
                       run_dir=None if data["run_dir"] is None else Path(data["run_dir"]))
