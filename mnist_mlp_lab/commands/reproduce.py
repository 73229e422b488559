"""``scripts/reproduce.py``: the textbook's MNIST figures reproduced with statistics.

Ten configurations (l = 30 and 100; sigmoid output with cross-entropy or quadratic cost, the
latter at Nielsen's η = 3.0 and at the chapter's stated η = 0.5, softmax with log-likelihood,
and the chapter's recipe: softmax with the cross-entropy (35)) × 10 seeds × 30 epochs, on the
reference split (50,000 training, 10,000 validation, 10,000 test images). Writes
``OUT/reproduction.md`` (the table), ``OUT/reproduction.json`` (everything) and
``OUT/reproduction.png``; ``--quick`` writes ``OUT/reproduction-quick.*`` instead. Run in
shards (``--shard I/N``), it is merged by ``--merge FOLDER``. The work is done by
``mnist_mlp_lab.reproduce`` (training, measuring) and ``mnist_mlp_lab.report`` (tables, plot,
files).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from mnist_mlp.cli import (
    CountBar,
    bars_wanted,
    one_line_errors,
    quoted,
    slurm_shard,
)
from mnist_mlp.errors import ConfigError
from mnist_mlp.files import FOLDER, check_writable, examine
from mnist_mlp.training import (
    ONE_PROCESS,
    WHOLE,
    Kind,
    Launch,
    Shard,
    ShardError,
    merge_shards,
    process_group,
    write_shard,
)

from ..configurations import Settings, quick_settings
from ..report import save, table
from ..reproduce import reproduce
from ..results import Reproduction, combine, from_dict, load
from .options import reproduce_parser as parser


def python() -> str:
    """The Python that runs this command, as typed here: a virtual environment's in this
    folder by its path (``.venv/bin/python``), else ``python``."""
    return (os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd())
            else "python")


def command_line(argv: Sequence[str], launch: Launch = ONE_PROCESS) -> str:
    """The command as typed, with ``MNIST_DATA`` when it says where the data is (under
    torchrun: its launcher, with the ranks it started)."""
    launcher = [python()]
    if launch.distributed:
        nodes = launch.world_size // launch.local_world_size
        launcher = ["torchrun", *(["--standalone"] if nodes == 1 else ["--nnodes", str(nodes)]),
                    "--nproc-per-node", str(launch.local_world_size)]
    words = [*launcher, os.path.relpath(sys.argv[0]), *argv]
    prefix = ""
    if "--data-dir" not in argv and os.environ.get("MNIST_DATA"):
        prefix = f"MNIST_DATA={shlex.quote(os.environ['MNIST_DATA'])} "
    return prefix + shlex.join(words)


def cannot(what: str, error: OSError) -> int:
    """Say in one line what could not be done with a file; the exit status 2."""
    print(f"error: cannot {what}: {error.strerror or error}", file=sys.stderr)
    return 2


@one_line_errors  # user errors: one line, exit 2; Ctrl-C: exit 130
def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    if args.merge is not None:
        if args.shard is not None:
            raise ConfigError("--merge merges the shards and trains none: drop --shard")
        return merge(args.merge)
    launch = Launch.from_environment()
    if not args.from_json:
        args.shard = slurm_shard(args.shard, launch)
    if args.shard is not None and (launch.distributed or args.from_json):
        raise ConfigError("--shard is for one process without torchrun, and trains: drop "
                          "--from-json, or drop --shard under torchrun (ranks take theirs)")
    given = {"seeds": args.seeds, "epochs": args.epochs, "train_size": args.train_size,
             "validation_size": args.validation_size}
    settings = (quick_settings if args.quick else Settings)(
        **{k: v for k, v in given.items() if v is not None}, data_dir=args.data_dir,
        device=launch.device(args.device), log_dir=args.log_dir or None, engine=args.engine,
        only=tuple(args.only) if args.only else None)
    check_writable(args.out, "the report", "choose another folder with --out")
    with process_group(launch, args.device), \
            contextlib.redirect_stdout(sys.stdout if launch.primary else io.StringIO()):
        if args.from_json:
            return render(args, load(args.from_json))  # a bad file: one line
        reproduction = run(settings, args, launch, command_line(argv, launch))
        if reproduction is None:  # a rank of torchrun other than 0: rank 0 reports
            return 0
        if args.shard is not None:
            path = write_reproduction_shard(args.out, args.shard, reproduction)
            print(f"\nshard {args.shard} of the reproduction in {path}; once every shard is "
                  f"done: {merge_command(args.out)}")
            return 0
        return render(args, reproduction)


def run(settings: Settings, args: argparse.Namespace, launch: Launch,
        command: str) -> Reproduction | None:
    """The reproduction (this process's shard of it), with a bar over its network-epochs."""
    shard = args.shard or (launch.shard if launch.distributed else WHOLE)
    total = sum(len(seeds) for seeds in shard.take(
        [range(settings.seeds)] * len(settings.configurations()))) * settings.epochs
    with CountBar(total, "reproduction", "net-epoch",
                  bars_wanted(args.quiet) and launch.primary) as bar:
        return reproduce(settings, report=bar.write, command=command, shard=shard,
                         launch=launch, progress=bar.update)


def render(args: argparse.Namespace, reproduction: Reproduction) -> int:
    """Write the report into ``args.out`` and print its table."""
    try:
        paths = save(reproduction, args.out)
    except OSError as e:
        return cannot(f"write to {args.out}", e)
    print()
    print(table(reproduction))
    done = (f"rendered from {args.from_json}" if args.from_json
            else f"total wall time {reproduction.wall_seconds:.0f} s")
    print(f"\n{done}; wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def write_reproduction_shard(out: Path, shard: Shard, reproduction: Reproduction) -> Path:
    """This shard of the reproduction as a shard file: what the whole one is (its settings), the
    networks it trained, and all it measured."""
    items = [{"id": f"{result.configuration.name}/{run.seed}"}
             for result in reproduction.results for run in result.runs]
    return write_shard(out, shard, "reproduction", asdict(reproduction.settings), items,
                       extra=reproduction.to_dict())


def reproduction_settings(settings: dict) -> Settings:
    """The ``Settings`` of a reproduction's plain data (from a shard file), checked; raises
    ``KeyError``, ``TypeError`` or ``ValueError`` for anything else."""
    only = settings["only"]
    names = isinstance(only, list) and all(isinstance(name, str) for name in only)
    if not (only is None or names):
        raise TypeError("its configurations are not a list of names")
    chosen = Settings(**(settings | {"only": tuple(only) if only else None}))
    if not (type(chosen.seeds) is int and type(chosen.epochs) is int):
        raise TypeError("its seeds and epochs are not integers")
    chosen.validate()
    return chosen


def reproduction_ids(settings: dict) -> list[str]:
    """The networks a reproduction with ``settings`` (as plain data) trains."""
    chosen = reproduction_settings(settings)
    return [f"{conf.name}/{seed}" for conf in chosen.configurations()
            for seed in range(chosen.seeds)]


def reproduction_size(settings: dict) -> int:
    """How many networks a reproduction with ``settings`` trains (without listing them)."""
    chosen = reproduction_settings(settings)
    return chosen.seeds * len(chosen.configurations())


REPRODUCTION = Kind("reproduction", reproduction_size, reproduction_ids,
                    check_item=lambda item, grid: None)
"""The shards of ``reproduce.py --shard I/N`` (what each measured is in its extra)."""


def merge_command(folder: Path) -> str:
    """The command that merges the reproduction's shards in ``folder`` (this one's ``--merge``),
    as typed here."""
    program = sys.argv[0] if sys.argv else ""
    script = (os.path.relpath(program) if program.endswith(".py")
              and not program.endswith("__main__.py") else "scripts/reproduce.py")
    return f"{python()} {quoted(script)} --merge {quoted(folder)}"


def merge(folder: Path) -> int:
    """``--merge FOLDER``: the reproduction's N shard files in ``folder`` checked and merged
    into the one report (as one process would have written it), written into ``folder``."""
    examine(folder, "the shards' folder", "give the folder the --shard runs wrote their files "
            "to", FOLDER, ShardError)
    _, _, _, extras = merge_shards(folder, {"reproduction": REPRODUCTION},
                                   {"train": f"mnist-mlp-merge {quoted(folder)}"})
    parts = reproduction_parts(folder, extras)
    whole = combine(parts, max(part.wall_seconds for part in parts))
    try:
        paths = save(whole, folder)
    except OSError as e:
        return cannot(f"write to {folder}", e)
    print(table(whole))
    print(f"\nmerged {len(parts)} shards; wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def reproduction_parts(folder: Path, extras: list) -> list[Reproduction]:
    """The reproduction of each shard (its extra, in shard order), checked to be parts of one:
    ``ShardError`` naming the shard that is not."""
    parts = []
    for number, extra in enumerate(extras, start=1):
        path = folder / f"shard-{number}-of-{len(extras)}.json"
        try:
            parts.append(from_dict(extra))
        except (KeyError, TypeError, ValueError) as error:
            raise ShardError(f"{path} is not a whole shard file of mnist-mlp: what it measured "
                             f"is malformed ({type(error).__name__}: {str(error)[:200]}); rerun "
                             "its shard") from None
        names = [r.configuration.name for r in parts[-1].results]
        if names != [r.configuration.name for r in parts[0].results]:
            raise ShardError(f"{path} measured other configurations than shard 1; rerun its "
                             "shard")
    return parts
