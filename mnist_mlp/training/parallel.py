"""The files of a sweep run in shards (``--shard I/N``), and merging them back into one.

Each shard writes ``shard-I-of-N.json`` (atomically) into the sweep's folder: what the whole
sweep is (``grid``: the same in every shard), and the results of its own networks (``items``,
each with an ``id`` naming its network). A network that diverged keeps its NaN and infinite
losses as the JSON tokens ``NaN`` and ``Infinity`` (as Python's ``json`` writes and reads
them), so that the merged sweep counts it as the unsharded sweep does.

``merge`` reads the N files of a folder and gives the grid and every item — refusing a missing
shard, a shard twice, shards of different sweeps, and a network found twice or never. Each file
is checked as data before anything is built from it (``read_json``: a regular file of at most
``MAX_BYTES``, nested at most ``MAX_DEPTH``; then its layout, its shard numbers, its counts and
every item), so that a damaged or hostile file is one line naming it and what is wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..files import JSONFileError, read_json, write_json
from .config import TrainConfig
from .launch import Shard
from .records import EpochRecord, TrainResult

FORMAT, VERSION = "mnist-mlp shard", 1
NAME = re.compile(r"shard-(\d+)-of-(\d+)\.json")
MAX_BYTES = 64 << 20
"""The largest shard file read: some thousand networks of a hundred epochs each."""
MAX_SHARDS = 100_000
"""The most shards a sweep may be split in (a job array's tasks)."""
MAX_ID = 200
"""The longest id of a network."""
RESUMABLE = ("data_dir", "log_dir", "log_every", "checkpoint_every")
"""Settings that shards of one sweep may differ in: where and how often they write, not what
they train (e.g. a shard resumed with another ``--data-dir``)."""


class ShardError(UserError):
    """Shard files that do not make one whole sweep; the message says what is wrong."""


@dataclass(frozen=True)
class Kind:
    """What the shards of one kind of sweep ("train", "reproduction") hold, for ``merge``.

    Each function reads plain data from a file and raises ``KeyError``, ``TypeError`` or
    ``ValueError`` (``ConfigError`` included) for anything malformed."""

    name: str
    size: Callable[[dict[str, Any]], int]
    """How many networks a grid asks for, without listing them."""
    ids: Callable[[dict[str, Any]], list[str]]
    """The id of each network of a grid, in the order of the sweep's results."""
    check_item: Callable[[dict[str, Any], dict[str, Any]], None]
    """Check one item of a shard against the grid."""
    same: Callable[[dict[str, Any]], dict[str, Any]] = lambda grid: grid
    """What of a grid must be the same in every shard."""


def shard_path(folder: Path, shard: Shard) -> Path:
    return folder / f"shard-{shard.index + 1}-of-{shard.count}.json"


def write_shard(folder: Path, shard: Shard, kind: str, grid: dict[str, Any],
                items: Sequence[dict[str, Any]], extra: Any = None) -> Path:
    """Write this shard's file (``extra``: anything more the shard has to say); returns its
    path. NaN and infinities are kept (``write_json(strict=False)``)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = shard_path(folder, shard)
    write_json(path, {"format": FORMAT, "version": VERSION, "kind": kind,
                      "shard": [shard.index + 1, shard.count], "grid": grid,
                      "items": list(items), "extra": extra}, strict=False)
    return path


def merge(folder: Path, kinds: dict[str, Kind]
          ) -> tuple[Kind, dict[str, Any], list[dict[str, Any]], list[Any]]:
    """The kind, the grid, the items and the extras (in shard order) of the N shards of a sweep
    in ``folder``, checked: all N shards, each once, of one sweep of one of ``kinds``, whose
    items together are those the grid asks for, each exactly once."""
    files = sorted(p for p in folder.glob("shard-*-of-*.json") if NAME.fullmatch(p.name))
    if not files:
        raise ShardError(f"no readable shard files (shard-I-of-N.json) in {folder}; give the "
                         "folder the --shard runs wrote them to")
    shards = [(path, _read(path, kinds)) for path in files]
    kind = kinds[shards[0][1]["kind"]]
    if any(data["kind"] != kind.name for _, data in shards):
        raise ShardError(f"the shard files in {folder} are of different kinds of sweep; "
                         "merge one sweep's shards at a time")
    _check_whole(folder, [data["shard"] for _, data in shards])
    grids = {json.dumps(kind.same(data["grid"]), sort_keys=True) for _, data in shards}
    if len(grids) != 1:
        raise ShardError(f"the shard files in {folder} belong to different sweeps (their "
                         "settings differ); merge one sweep's shards at a time")
    shards.sort(key=lambda shard: shard[1]["shard"][0])
    first, grid = shards[0][0], shards[0][1]["grid"]
    items = [item for _, data in shards for item in data["items"]]
    size = _checked(first, "its grid", lambda: kind.size(grid))
    if size > len(items):  # before the ids are listed: a grid may claim 10¹² networks
        raise ShardError(f"the sweep in {folder} has {size} networks, but its shards hold "
                         f"{len(items)}; rerun the sweep's shards with the same settings")
    _check_ids([item["id"] for item in items], _checked(first, "its grid",
                                                        lambda: kind.ids(grid)), folder)
    for path, data in shards:
        for k, item in enumerate(data["items"], start=1):
            _checked(path, f"its network {k}", lambda item=item: kind.check_item(item, grid))
    return kind, grid, items, [data.get("extra") for _, data in shards]


def _read(path: Path, kinds: dict[str, Kind]) -> dict[str, Any]:
    """The data of one shard file, its layout checked (not yet its items)."""
    try:
        data = read_json(path, MAX_BYTES)
    except JSONFileError as error:
        raise ShardError(f"{path} is not a shard file of mnist-mlp: {error.problem}; rerun "
                         "its shard") from None
    problem = _layout_problem(data, kinds)
    if problem:
        raise ShardError(f"{path} is not a whole shard file of mnist-mlp: {problem}; rerun "
                         "its shard")
    if NAME.fullmatch(path.name).groups() != tuple(str(n) for n in data["shard"]):
        raise ShardError(f"{path} holds shard {data['shard'][0]}/{data['shard'][1]}, not the "
                         "one its name says")
    return data


def _layout_problem(data: Any, kinds: dict[str, Kind]) -> str | None:
    """What is wrong with the layout of a shard file's data (None: nothing)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return f"it has no {FORMAT!r} marker"
    if not _is_int(data.get("version")) or data["version"] != VERSION:
        return f"it is not of format version {VERSION}"
    if not isinstance(data.get("kind"), str) or data["kind"] not in kinds:
        return f"its kind is not one of {', '.join(kinds)}"
    shard = data.get("shard")
    if not (isinstance(shard, list) and len(shard) == 2 and all(map(_is_int, shard))
            and 1 <= shard[0] <= shard[1] <= MAX_SHARDS):
        return f"its shard is not I/N with 1 <= I <= N <= {MAX_SHARDS}"
    if not isinstance(data.get("grid"), dict) or not isinstance(data.get("items"), list):
        return "its grid or its items are missing"
    for k, item in enumerate(data["items"], start=1):
        if not (isinstance(item, dict) and isinstance(item.get("id"), str)
                and len(item["id"]) <= MAX_ID):
            return f"its network {k} has no id (a text of at most {MAX_ID} characters)"
    return None


def _check_whole(folder: Path, shards: list[list[int]]) -> None:
    """All N shards of one split, each once (the file names are unique)."""
    counts = sorted({count for _, count in shards})
    if len(counts) != 1:
        raise ShardError(f"the shard files in {folder} split sweeps in different numbers of "
                         f"shards ({', '.join(map(str, counts))}); keep one sweep's")
    (count,) = counts
    found = {number for number, _ in shards}
    missing = []
    for number in range(1, count + 1):  # at most MAX_SHARDS
        if number not in found:
            missing.append(number)
    if missing:
        listed = ", ".join(f"{i}/{count}" for i in missing[:3])
        more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
        raise ShardError(f"shard {listed}{more} missing in {folder}; run it (--shard "
                         f"I/{count}) before merging")


def _checked(path: Path, what: str, check: Callable[[], Any]) -> Any:
    """``check()``, with what it raises for malformed data as one line naming the file."""
    try:
        return check()
    except (KeyError, TypeError, ValueError) as error:  # ConfigError too
        problem = (f"{what} lacks the entry {str(error)[:100]}" if isinstance(error, KeyError)
                   else f"{what} is malformed ({str(error)[:200]})")
        raise ShardError(f"{path} is not a whole shard file of mnist-mlp: {problem}; rerun its "
                         "shard") from None


def _check_ids(found: list[str], expected: Sequence[str], folder: Path) -> None:
    seen, twice = set(), set()
    for item in found:
        (twice if item in seen else seen).add(item)
    never = [item for item in expected if item not in seen]
    extra = sorted(seen - set(expected))
    for what, ids in (("twice", sorted(twice)), ("never", never), ("unasked for", extra)):
        if ids:
            raise ShardError(f"the shards in {folder} hold network {ids[0]} {what}"
                             f"{f' (and {len(ids) - 1} more)' if len(ids) > 1 else ''}; "
                             "rerun the sweep's shards with the same settings")


def _is_int(value: Any) -> bool:
    return type(value) is int


# ---------------------------------------------------------------------------------------------
# The shards of a train command's sweep (``--engine fast --shard I/N``)


def network_id(lr: float, seed: int) -> str:
    """The id of network (η, seed) of a sweep."""
    return f"lr={lr!r},seed={seed}"


def network_ids(sweep: dict[str, Any]) -> list[str]:
    """The id of each network of a sweep, in the order of its results."""
    return [network_id(lr, seed) for lr in sweep["lrs"] for seed in sweep["seeds"]]


def _train_size(grid: dict[str, Any]) -> int:
    """How many networks a train sweep's grid asks for, its shared settings checked (each
    network's own η and seed are checked with its item)."""
    lrs, seeds = grid["lrs"], grid["seeds"]
    if not (isinstance(lrs, list) and isinstance(seeds, list) and lrs and seeds):
        raise TypeError("its learning rates and seeds are not lists of numbers")
    if not isinstance(grid["config"], dict):
        raise TypeError("its settings are not a dict")
    TrainConfig(**grid["config"], lr=lrs[0], seed=seeds[0]).validate()
    return len(lrs) * len(seeds)


def _check_train_item(item: dict[str, Any], grid: dict[str, Any]) -> None:
    """A network of a train sweep: its settings the grid's with its own η and seed, its history
    one record per epoch."""
    result = result_from_dict(item)
    shared = {k: v for k, v in asdict(result.config).items() if k not in ("lr", "seed")}
    if _train_same({"config": shared}) != _train_same({"config": grid["config"]}):
        raise ValueError("its settings are not the sweep's")
    if item["id"] != network_id(result.config.lr, result.config.seed):
        raise ValueError(f"its settings are not those of network {item['id']}")
    if [r.epoch for r in result.history] != list(range(1, result.config.epochs + 1)):
        raise ValueError(f"its history is not one record for each of its "
                         f"{result.config.epochs} epochs")
    if not (item["metrics"] is None or isinstance(item["metrics"], dict)):
        raise TypeError("its metrics are not a dict")


def _train_same(grid: dict[str, Any]) -> dict[str, Any]:
    """What every shard of a train sweep shares: its grid but the settings in ``RESUMABLE``."""
    if not isinstance(grid.get("config"), dict):
        return grid
    return grid | {"config": {k: v for k, v in grid["config"].items() if k not in RESUMABLE}}


TRAIN = Kind("train", _train_size, network_ids, _check_train_item, _train_same)
"""The shards of ``mnist-mlp-train --engine fast --shard I/N``."""


def result_to_dict(result: TrainResult) -> dict[str, Any]:
    """A result as plain data, without its model: configuration, history, final test metrics
    and run folder (what a shard of a sweep sends or writes)."""
    return {"config": asdict(result.config), "history": [r.to_dict() for r in result.history],
            "metrics": None if result.metrics is None else result.metrics.to_dict(),
            "run_dir": None if result.run_dir is None else str(result.run_dir)}


def result_from_dict(data: dict[str, Any]) -> TrainResult:
    """The result of ``result_to_dict``, without its model (its metrics kept only as data);
    ``KeyError``, ``TypeError`` or ``ValueError`` (``ConfigError``) for anything else."""
    config = TrainConfig(**data["config"])
    config.validate()
    known = {f.name for f in fields(EpochRecord)}
    if not isinstance(data["history"], list) or not all(
            isinstance(r, dict) and set(r) <= known for r in data["history"]):
        raise TypeError("its history is not a list of epoch records")
    run_dir = data["run_dir"]
    if not (run_dir is None or isinstance(run_dir, str)):
        raise TypeError("its run folder is not a path")
    return TrainResult(model=None, config=config,  # type: ignore[arg-type]
                       history=[EpochRecord.from_dict(r) for r in data["history"]],
                       run_dir=None if run_dir is None else Path(run_dir))
