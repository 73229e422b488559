"""Training past one process (docs/scaling.md, also for the shard files' format).

* ``Launch``: this process's rank among those torchrun started, the process group and what the
  ranks exchange (``gather_json``, ``first_then_others``), each wait bounded by ``timeout()``;
* ``Shard``: which part of a sweep this process trains (``--shard I/N``, a Slurm job array's task,
  or a torchrun rank); each network goes to exactly one shard, trained as one process would;
* ``write_shard`` writes ``shard-I-of-N.json``; ``merge_shards`` checks all N and merges them.

Loads without torch (``--shard`` is parsed before torch loads). One network's mini-batches split
over the ranks: ``reference.train_data_parallel``.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ConfigError, UserError
from ..files import JSONFileError, read_json, write_json
from .config import TrainConfig, cpu_threads, resolve_device

TIMEOUT_VARIABLE = "MNIST_MLP_DIST_TIMEOUT"
DEFAULT_TIMEOUT = 600.0  # seconds: at the gather, the ranks done first wait for the slowest
MAX_TIMEOUT = 1e8  # seconds (three years); far larger ones overflow inside torch.distributed
LAUNCHER_VARIABLES = ("MASTER_ADDR", "MASTER_PORT")  # set by a launcher beside RANK, WORLD_SIZE
ONE_PROCESS_HINT = ("unset them (env -u RANK -u WORLD_SIZE …) to train in one process, or start "
                    "the command with torchrun")

Item = TypeVar("Item")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based): which part of a sweep this process trains."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"I/N"`` (1-based, as a job array numbers its tasks) → ``Shard(I − 1, N)``."""
        try:
            number, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise ConfigError(f"--shard takes I/N, e.g. 1/4, got {text!r}") from None
        if not 1 <= number <= count <= MAX_SHARDS:
            raise ConfigError(f"--shard I/N needs 1 <= I <= N <= {MAX_SHARDS:,}, got {text!r}")
        return cls(number - 1, count)

    @classmethod
    def from_slurm(cls, env: Mapping[str, str] = os.environ) -> Shard | None:
        """This task's shard of a Slurm job array (None outside one): the tasks from
        ``SLURM_ARRAY_TASK_MIN`` in steps of ``SLURM_ARRAY_TASK_STEP`` are shards 1, 2, …"""
        if "SLURM_ARRAY_TASK_ID" not in env or "SLURM_ARRAY_TASK_COUNT" not in env:
            return None
        try:
            task, count = int(env["SLURM_ARRAY_TASK_ID"]), int(env["SLURM_ARRAY_TASK_COUNT"])
            first = int(env.get("SLURM_ARRAY_TASK_MIN", 0))
            step = int(env.get("SLURM_ARRAY_TASK_STEP", 1))
        except ValueError:
            raise ConfigError("the SLURM_ARRAY_TASK_* variables are not whole numbers; give "
                              "the shard with --shard I/N") from None
        index, off = divmod(task - first, step) if step > 0 else (-1, 0)
        if off or not 0 <= index < count <= MAX_SHARDS:
            raise ConfigError(f"cannot tell the shard of task {task} of this Slurm job array "
                              f"({count} tasks from {first} in steps of {step}); give it with "
                              "--shard I/N")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index + 1}/{self.count}"

    def take(self, groups: Sequence[Sequence[Item]]) -> list[list[Item]]:
        """This shard's part of each group (e.g. the seeds of each architecture): item j goes to
        shard j mod N, so every shard shares every group and each item is taken exactly once."""
        return [list(group[self.index::self.count]) for group in groups]


WHOLE = Shard()  # all of a sweep: the one shard of one


@dataclass(frozen=True)
class Launch:
    """Where this process stands among those torchrun started (one process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @classmethod
    def from_environment(cls) -> Launch:
        """The ranks torchrun (or srun) set; one process without them. ``ConfigError`` for ranks
        that make no sense, or that no launcher set (no ``MASTER_ADDR``, ``MASTER_PORT``)."""
        env = os.environ
        if "RANK" not in env or "WORLD_SIZE" not in env:
            return cls()
        given = " ".join(f"{name}={env[name]}" for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK",
                                                              "LOCAL_WORLD_SIZE") if name in env)
        try:
            launch = cls(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", 0)),
                         int(env.get("LOCAL_WORLD_SIZE", env["WORLD_SIZE"])))
        except ValueError:
            launch = None
        if launch is None or not (0 <= launch.rank < launch.world_size
                                  and 0 <= launch.local_rank < launch.local_world_size):
            raise ConfigError(f"the environment sets {given}, which are no ranks of a launch; "
                              f"{ONE_PROCESS_HINT}")
        missing = [name for name in LAUNCHER_VARIABLES if not env.get(name)]
        if launch.distributed and missing:
            raise ConfigError(f"the environment sets {given} as a launcher would, but not "
                              f"{' or '.join(missing)}: no launcher started this process; "
                              f"{ONE_PROCESS_HINT}")
        return launch

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def primary(self) -> bool:
        """Rank 0: the one that prints, gathers and writes the summary."""
        return self.rank == 0

    @property
    def shard(self) -> Shard:
        return Shard(self.rank, self.world_size)

    def device(self, name: str) -> str:
        """This rank's device: for "auto" (given GPUs) and "cuda", a GPU of this machine's
        own, ``cuda:LOCAL_RANK``, shared round the GPUs where ranks outnumber them."""
        if not self.distributed or name not in ("auto", "cuda"):
            return name
        import torch

        if name == "auto" and not torch.cuda.is_available():
            return "cpu"
        return f"cuda:{self.local_rank % max(1, torch.cuda.device_count())}"

    def threads(self) -> int:
        """This rank's share of the machine's CPU threads."""
        return max(1, (os.cpu_count() or 1) // self.local_world_size)


ONE_PROCESS = Launch()  # a process on its own


class NoAnswerError(UserError):
    """The other ranks did not answer within the timeout; one-line message."""


def timeout() -> timedelta:
    """``$MNIST_MLP_DIST_TIMEOUT`` seconds, else ``DEFAULT_TIMEOUT``; ``ConfigError`` if not > 0."""
    text = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    try:
        seconds = float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_TIMEOUT):
        raise ConfigError(f"{TIMEOUT_VARIABLE}={text} is not a number of seconds up to "
                          f"{MAX_TIMEOUT:g}; set it to how long a rank may wait for the others, "
                          "e.g. 600")
    return timedelta(seconds=seconds)


@contextmanager
def process_group(launch: Launch, device: str) -> Iterator[None]:
    """The process group of a torchrun launch for the block, each rank on ``launch.device
    (device)`` with its share of the threads and its GPU current: nccl where ``auto`` or
    ``cuda`` gave each rank a GPU of its own, else gloo (a GPU named by number is shared by
    every rank); nothing for one process. Waits bounded by ``timeout()``."""
    if not launch.distributed:
        yield
        return
    import torch
    import torch.distributed as dist

    # Before the group exists: imported later (by DDP), its defaults (group=group.WORLD) would
    # keep the group's threads alive into the interpreter's exit, where they can abort the rank.
    import torch.distributed.nn

    wait = timeout()
    mine = launch.device(device)
    gpu = resolve_device(mine) if torch.cuda.is_available() and "cuda" in mine else None
    if gpu is not None:  # "cuda" is then this rank's GPU, and NCCL finds it for each rank
        torch.cuda.set_device(gpu)
    # NCCL asks each rank for a GPU of its own; gloo may share one. Decided alike on every rank
    nccl = (gpu is not None and device in ("auto", "cuda")
            and torch.cuda.device_count() >= launch.local_world_size)
    with answered(launch, wait):
        dist.init_process_group("nccl" if nccl else "gloo", timeout=wait,
                                device_id=gpu if nccl else None)
        try:
            with cpu_threads(launch.threads()):
                yield
        finally:
            dist.destroy_process_group()


@contextmanager
def answered(launch: Launch, wait: timedelta, done: str = "", after: str = "") -> Iterator[None]:
    """``NoAnswerError`` for torch.distributed's timeout or a lost connection in the block, told
    by their words (gloo raises a plain ``RuntimeError``: "Timed out waiting …", "Connection
    closed by peer …"), ``done`` what this rank finished before, ``after`` what to do then;
    others keep their traceback."""
    try:
        yield
    except RuntimeError as error:
        text = str(error).lower()
        lost = any(words in text for words in ("by peer", "broken pipe", "remote worker"))
        if not (lost or "timed out" in text or "timeout" in text):
            raise
        how = ("lost its connection to the others: a rank stopped answering (it crashed or was "
               "stopped: its own output says which)" if lost else
               f"waited {wait.total_seconds():g} s for the others: a rank stopped answering "
               "(crashed, hung, or far behind: its own output says which); if it is only slow, "
               f"set {TIMEOUT_VARIABLE} to more seconds")
        raise NoAnswerError(f"rank {launch.rank} of {launch.world_size} {done}{how}{after}"
                            ) from None


def gather_json(value: object, launch: Launch, done: str = "",
                after: str = "") -> list[Any] | None:
    """Every rank's ``value`` (plain data) on rank 0, in rank order; None on the others. A rank
    that stops answering: ``NoAnswerError``, saying ``done`` and ``after`` (``answered``)."""
    if not launch.distributed:
        return [value]
    import torch.distributed as dist

    gathered: list[str] | None = [""] * launch.world_size if launch.primary else None
    with answered(launch, timeout(), done, after):
        dist.gather_object(json.dumps(value), gathered, dst=0)
    return None if gathered is None else [json.loads(text) for text in gathered]


def first_then_others(launch: Launch, work: Callable[[], Item]) -> Item:
    """``work()`` on rank 0 first (say, a download), then on the others once it is done."""
    if launch.primary:
        result = work()
    if launch.distributed:
        import torch.distributed as dist

        dist.barrier()
    if not launch.primary:
        result = work()
    return result


FORMAT, VERSION = "mnist-mlp shard", 1
NAME = re.compile(r"shard-(\d+)-of-(\d+)\.json")
MAX_BYTES = 64 << 20  # the largest shard file read: ~1000 networks of 100 epochs each
MAX_SHARDS = 100_000  # the most shards a sweep may be split in (a job array's tasks)
MAX_ID = 200  # the longest id of a network
# Settings that shards of one sweep may differ in: where and how often they write and measure.
RESUMABLE = ("data_dir", "log_dir", "log_every", "checkpoint_every", "evaluate_train_every")


class ShardError(UserError):
    """Shard files that do not make one whole sweep; the message says what is wrong."""


@dataclass(frozen=True)
class Kind:
    """What the shards of one kind of sweep ("train", "reproduction") hold: a grid's network count
    (``size``, not listing them), its ids in result order, a check of one item against the grid,
    what every shard shares (``same``); each raises ``KeyError``/``TypeError``/``ValueError``."""

    name: str
    size: Callable[[dict[str, Any]], int]
    ids: Callable[[dict[str, Any]], list[str]]
    check_item: Callable[[dict[str, Any], dict[str, Any]], None]
    same: Callable[[dict[str, Any]], dict[str, Any]] = lambda grid: grid


def write_shard(folder: Path, shard: Shard, kind: str, grid: dict[str, Any],
                items: Sequence[dict[str, Any]], extra: Any = None) -> Path:
    """Write this shard's file (``extra``: anything more to say), NaN kept; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"shard-{shard.index + 1}-of-{shard.count}.json"
    write_json(path, {"format": FORMAT, "version": VERSION, "kind": kind,
                      "shard": [shard.index + 1, shard.count], "grid": grid,
                      "items": list(items), "extra": extra}, strict=False)
    return path


def merge_shards(folder: Path, kinds: dict[str, Kind],
                 elsewhere: Mapping[str, str] | None = None
                 ) -> tuple[Kind, dict[str, Any], list[dict[str, Any]], list[Any]]:
    """The kind, grid, items and extras (in shard order) of the N shards of a sweep in
    ``folder``, checked: each shard once, of one sweep, holding each network it asks for once.
    A kind in ``elsewhere`` is merged by the command it names: the error says so."""
    files = sorted(p for p in folder.glob("shard-*-of-*.json") if NAME.fullmatch(p.name))
    if not files:
        raise ShardError(f"no readable shard files (shard-I-of-N.json) in {folder}; give the "
                         "folder the --shard runs wrote them to")
    elsewhere = elsewhere or {}
    shards = [(path, _read(path, [*kinds, *elsewhere])) for path in files]
    name = shards[0][1]["kind"]
    if name in elsewhere:
        raise ShardError(f"the shards in {folder} are a {name}'s, which this command does not "
                         f"merge; merge them with: {elsewhere[name]}")
    kind = kinds[name]
    if any(data["kind"] != kind.name for _, data in shards):
        raise ShardError(f"the shard files in {folder} are of different kinds of sweep; "
                         "merge one sweep's shards at a time")
    _check_whole(folder, [data["shard"] for _, data in shards])
    if len({json.dumps(kind.same(data["grid"]), sort_keys=True) for _, data in shards}) != 1:
        raise ShardError(f"the shard files in {folder} belong to different sweeps (their "
                         "settings differ); merge one sweep's shards at a time")
    shards.sort(key=lambda shard: shard[1]["shard"][0])
    first, grid = shards[0][0], shards[0][1]["grid"]
    items = [item for _, data in shards for item in data["items"]]
    size = _checked(first, "its grid", lambda: kind.size(grid))
    if size > len(items):  # before the ids are listed: a grid may claim 10¹² networks
        raise ShardError(f"the sweep in {folder} has {size} networks, but its shards hold "
                         f"{len(items)}; {RERUN_ALL}")
    _check_ids([item["id"] for item in items], _checked(first, "its grid",
                                                        lambda: kind.ids(grid)), folder)
    for path, data in shards:
        for k, item in enumerate(data["items"], start=1):
            _checked(path, f"its network {k}", functools.partial(kind.check_item, item, grid))
    return kind, grid, items, [data.get("extra") for _, data in shards]


RERUN_ALL = "rerun the sweep's shards with the same settings"


def _broken(path: Path, problem: str, whole: bool = True) -> ShardError:
    """The one-line error for the shard file at ``path`` and what is wrong with it."""
    return ShardError(f"{path} is not a {'whole ' if whole else ''}shard file of mnist-mlp: "
                      f"{problem}; rerun its shard")


def _read(path: Path, kinds: Sequence[str]) -> dict[str, Any]:
    """The data of one shard file, its layout checked (not yet its items)."""
    try:
        data = read_json(path, MAX_BYTES)
    except JSONFileError as error:
        raise _broken(path, error.problem, whole=False) from None
    problem = _layout_problem(data, kinds)
    if problem:
        raise _broken(path, problem)
    named = match.groups() if (match := NAME.fullmatch(path.name)) else None
    if named != tuple(str(n) for n in data["shard"]):
        raise ShardError(f"{path} holds shard {data['shard'][0]}/{data['shard'][1]}, not the "
                         "one its name says")
    return data


def _layout_problem(data: Any, kinds: Sequence[str]) -> str | None:
    """What is wrong with the layout of a shard file's data (None: nothing)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return f"it has no {FORMAT!r} marker"
    if type(data.get("version")) is not int or data["version"] != VERSION:
        return f"it is not of format version {VERSION}"
    if not isinstance(data.get("kind"), str) or data["kind"] not in kinds:
        return f"its kind is not one of {', '.join(kinds)}"
    shard = data.get("shard")
    if not (isinstance(shard, list) and len(shard) == 2 and all(type(n) is int for n in shard)
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
    missing = [number for number in range(1, count + 1) if number not in found]  # ≤ MAX_SHARDS
    if missing:
        listed = ", ".join(f"{i}/{count}" for i in missing[:3])
        more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
        raise ShardError(f"shard {listed}{more} missing in {folder}; run it (--shard "
                         f"{missing[0]}/{count}{', …' if len(missing) > 1 else ''}) before "
                         "merging")


def _checked(path: Path, what: str, check: Callable[[], Any]) -> Any:
    """``check()``, with what it raises for malformed data as one line naming the file."""
    try:
        return check()
    except KeyError as error:
        raise _broken(path, f"{what} lacks the entry {str(error)[:100]}") from None
    except (TypeError, ValueError) as error:  # ConfigError too
        raise _broken(path, f"{what} is malformed ({str(error)[:200]})") from None


def _check_ids(found: list[str], expected: Sequence[str], folder: Path) -> None:
    """Each network the grid asks for found exactly once, and no other."""
    counts = Counter(found)
    twice = sorted(item for item, count in counts.items() if count > 1)
    never = [item for item in expected if item not in counts]
    extra = sorted(counts.keys() - set(expected))
    for what, ids in (("twice", twice), ("never", never), ("unasked for", extra)):
        if ids:
            more = f" (and {len(ids) - 1} more)" if len(ids) > 1 else ""
            raise ShardError(f"the shards in {folder} hold network {ids[0]} {what}{more}; "
                             f"{RERUN_ALL}")


def network_id(lr: float, seed: int) -> str:
    """The id of network (η, seed) of a sweep."""
    return f"lr={lr!r},seed={seed}"


def network_ids(sweep: dict[str, Any]) -> list[str]:
    """The id of each network of a sweep, in the order of its results."""
    return [network_id(lr, seed) for lr in sweep["lrs"] for seed in sweep["seeds"]]


def _train_size(grid: dict[str, Any]) -> int:
    """How many networks a train sweep's grid asks for, its shared settings checked."""
    lrs, seeds = grid["lrs"], grid["seeds"]
    if not (isinstance(lrs, list) and isinstance(seeds, list) and lrs and seeds):
        raise TypeError("its learning rates and seeds are not lists of numbers")
    if not isinstance(grid["config"], dict):
        raise TypeError("its settings are not a dict")
    TrainConfig(**grid["config"], lr=lrs[0], seed=seeds[0]).validate()
    return len(lrs) * len(seeds)


def _check_train_item(item: dict[str, Any], grid: dict[str, Any]) -> None:
    """A network of a train sweep: the grid's settings with its own η and seed, one record of
    history per epoch."""
    from .records import TrainResult  # here: the module loads without torch

    result = TrainResult.from_dict(item)
    if (_train_same({"config": result.config.shared()})
            != _train_same({"config": grid["config"]})):
        raise ValueError("its settings are not the sweep's")
    if item["id"] != network_id(result.config.network_lr, result.config.seed):
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


TRAIN = Kind("train", _train_size, network_ids, _check_train_item, _train_same)  # --shard I/N
