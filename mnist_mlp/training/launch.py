"""Where a process stands when there are several: its rank, its shard of a sweep, and what the
processes exchange (``torch.distributed`` under torchrun; nothing for one process).

A sweep's networks are independent — each is initialised from its own seed and shuffled by its
own generator — so a grid of networks is dealt out over N shards (``Shard``), each network to
exactly one, each architecture spread evenly; a shard trains its networks exactly as one process
would, and the shards' results are gathered on rank 0 (``gather_json``), or merged from the
files of ``--shard I/N`` runs.

The module loads without torch (``--shard`` is parsed before torch loads); the functions that
exchange import ``torch.distributed`` when called.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from ..errors import ConfigError, UserError

TIMEOUT_VARIABLE = "MNIST_MLP_DIST_TIMEOUT"
DEFAULT_TIMEOUT = 600.0
"""How long, in seconds, a rank waits for the others — to start, at an exchange — before it
stops with one line, unless ``$MNIST_MLP_DIST_TIMEOUT`` says otherwise. Ten minutes: at the
gather, the ranks that finish their shard first wait for the others to finish theirs."""
LAUNCHER_VARIABLES = ("MASTER_ADDR", "MASTER_PORT")
"""What a launcher (torchrun, or a job script for srun) sets beside RANK and WORLD_SIZE: where
the ranks meet."""

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
        if not 1 <= number <= count:
            raise ConfigError(f"--shard I/N needs 1 <= I <= N, got {text!r}")
        return cls(number - 1, count)

    @classmethod
    def from_slurm(cls, env: Mapping[str, str] = os.environ) -> Shard | None:
        """This task's shard of a Slurm job array (None outside one): the array's tasks,
        numbered from ``SLURM_ARRAY_TASK_MIN`` (0 or 1, as the array was declared) in steps of
        ``SLURM_ARRAY_TASK_STEP``, are shards 1 … ``SLURM_ARRAY_TASK_COUNT`` in order."""
        if "SLURM_ARRAY_TASK_ID" not in env or "SLURM_ARRAY_TASK_COUNT" not in env:
            return None
        try:
            task = int(env["SLURM_ARRAY_TASK_ID"])
            count = int(env["SLURM_ARRAY_TASK_COUNT"])
            first = int(env.get("SLURM_ARRAY_TASK_MIN", 0))
            step = int(env.get("SLURM_ARRAY_TASK_STEP", 1))
        except ValueError:
            raise ConfigError("the SLURM_ARRAY_TASK_* variables are not whole numbers; give "
                              "the shard with --shard I/N") from None
        index, off = divmod(task - first, step) if step > 0 else (-1, 0)
        if off or not 0 <= index < count:
            raise ConfigError(f"cannot tell the shard of task {task} of this Slurm job array "
                              f"({count} tasks from {first} in steps of {step}); give it with "
                              "--shard I/N")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index + 1}/{self.count}"

    def take(self, groups: Sequence[Sequence[Item]]) -> list[list[Item]]:
        """This shard's part of each group (e.g. the seeds of each architecture): item j of a
        group goes to shard j mod N, so that every shard gets its share of every group and
        all shards together take each item exactly once."""
        return [list(group[self.index::self.count]) for group in groups]


WHOLE = Shard()
"""All of a sweep: the one shard of one."""


@dataclass(frozen=True)
class Launch:
    """Where this process stands among those torchrun started (one process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @classmethod
    def from_environment(cls) -> Launch:
        """The ranks torchrun (or srun with its variables) set; one process without them.
        ``ConfigError`` for ranks that make no sense, or that no launcher set (a ``RANK`` and
        ``WORLD_SIZE`` left in the environment, without ``MASTER_ADDR`` and ``MASTER_PORT``)."""
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
                              "unset them (env -u RANK -u WORLD_SIZE …) to train in one "
                              "process, or start the command with torchrun")
        missing = [name for name in LAUNCHER_VARIABLES if not env.get(name)]
        if launch.distributed and missing:
            raise ConfigError(f"the environment sets {given} as a launcher would, but not "
                              f"{' or '.join(missing)}: no launcher started this process; unset "
                              "them (env -u RANK -u WORLD_SIZE …) to train in one process, or "
                              "start the command with torchrun")
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
        """This rank's device: ``cuda:LOCAL_RANK`` where there are GPUs, else the CPU (for
        ``name`` "auto"); any other name as it is."""
        if name == "auto" and self.distributed:
            import torch

            return f"cuda:{self.local_rank}" if torch.cuda.is_available() else "cpu"
        return name

    def threads(self) -> int:
        """This rank's share of the machine's CPU threads."""
        return max(1, (os.cpu_count() or 1) // self.local_world_size)


ONE_PROCESS = Launch()
"""A process on its own."""


class NoAnswerError(UserError):
    """The other ranks did not answer within the timeout; one-line message."""


def timeout() -> timedelta:
    """How long a rank waits for the others: ``$MNIST_MLP_DIST_TIMEOUT`` seconds, else
    ``DEFAULT_TIMEOUT``; ``ConfigError`` for a value that is not a positive number."""
    text = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    try:
        seconds = float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"{TIMEOUT_VARIABLE}={text} is not a number of seconds; set it to "
                          "how long a rank may wait for the others, e.g. 600")
    return timedelta(seconds=seconds)


@contextmanager
def process_group(launch: Launch, device: str) -> Iterator[None]:
    """The process group of a torchrun launch (gloo on the CPU, nccl on GPUs), for the block;
    nothing for one process. On the CPU each rank keeps its share of the threads. A rank that
    waits longer than ``timeout()`` for the others — to start, at an exchange — stops with one
    line (``NoAnswerError``)."""
    if not launch.distributed:
        yield
        return
    import torch.distributed as dist

    from .threads import cpu_threads

    backend = "nccl" if device.startswith("cuda") else "gloo"
    wait = timeout()
    with answered(launch, wait):
        dist.init_process_group(backend, timeout=wait)
        try:
            with cpu_threads(launch.threads()):
                yield
        finally:
            dist.destroy_process_group()


@contextmanager
def answered(launch: Launch, wait: timedelta) -> Iterator[None]:
    """``NoAnswerError`` for torch.distributed's timeout in the block. Its backends say so only in
    words (gloo raises a plain ``RuntimeError``: "Timed out waiting …ms"), so that is what is
    looked for; any other error keeps its traceback."""
    try:
        yield
    except RuntimeError as error:
        if not any(words in str(error).lower() for words in ("timed out", "timeout")):
            raise
        raise NoAnswerError(f"rank {launch.rank} of {launch.world_size} waited "
                       f"{wait.total_seconds():g} s for the others: a rank stopped answering "
                       "(crashed, hung, or far behind: its own output says which); if it is "
                       f"only slow, set {TIMEOUT_VARIABLE} to more seconds") from None


def gather_json(value: object, launch: Launch) -> list[object] | None:
    """Every rank's ``value`` (plain data) on rank 0, in rank order; None on the others."""
    if not launch.distributed:
        return [value]
    import torch.distributed as dist

    gathered: list[str] | None = [""] * launch.world_size if launch.primary else None
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
