"""``scripts/reproduce.py``: the textbook's MNIST figures reproduced with statistics.

Eight configurations (l = 30 and 100; sigmoid output with cross-entropy or quadratic cost,
softmax with log-likelihood, and the chapter's recipe: softmax with the cross-entropy (35)) ×
10 seeds × 30 epochs, on the reference split (50,000 training, 10,000 validation, 10,000 test
images). Writes ``OUT/reproduction.md`` (the table),
``OUT/reproduction.json`` (everything) and ``OUT/reproduction.png``; ``--quick`` writes
``OUT/reproduction-quick.*`` instead. The work is done by ``mnist_mlp.experiments.reproduce``
(training, measuring) and ``mnist_mlp.experiments.report`` (tables, plot, files).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from ..experiments.configurations import ENGINES, NAMES, QUICK, Settings, quick_settings
from ..experiments.report import save, table
from ..experiments.reproduce import reproduce
from ..experiments.results import load
from ..files import check_writable
from .common import one_line_errors, positive_int


def parser() -> argparse.ArgumentParser:
    d = Settings()
    p = argparse.ArgumentParser(
        description="Reproduce the textbook's MNIST figures over seeds: final, best and "
                    "validation-chosen test accuracy, stalled runs and why they stall.")
    p.add_argument("--seeds", type=positive_int, default=None,
                   help=f"networks per configuration, seeds 0…N−1 (default {d.seeds}; "
                        f"{QUICK['seeds']} with --quick)")
    p.add_argument("--epochs", type=positive_int, default=None,
                   help=f"epochs (default {d.epochs}; {QUICK['epochs']} with --quick)")
    p.add_argument("--only", nargs="+", choices=NAMES, metavar="NAME",
                   help=f"run only these configurations: {', '.join(NAMES)}")
    p.add_argument("--quick", action="store_true",
                   help=f"a small version, a smoke test: {QUICK['seeds']} "
                        f"seeds, {QUICK['epochs']} epochs, the first {QUICK['train_size']:,} "
                        "training images; writes reproduction-quick.*")
    p.add_argument("--engine", choices=ENGINES, default=d.engine,
                   help="fast (default): all seeds of a configuration at once (train_many); "
                        "reference: the readable loop, one network at a time")
    p.add_argument("--data-dir", default=None,
                   help="folder holding MNIST/raw/ (default: $MNIST_DATA, else ./data)")
    p.add_argument("--device", default=d.device, help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--out", type=Path, default=Path("results"),
                   help="folder for reproduction.md, .json and .png (default: results)")
    p.add_argument("--log-dir", default=d.log_dir,
                   help=f"TensorBoard runs, one folder per configuration (default: {d.log_dir}; "
                        "'' for none)")
    p.add_argument("--from-json", type=Path, metavar="PATH",
                   help="train nothing: render the .md, .json and .png again from an earlier "
                        "reproduction.json (into --out)")
    return p


def command_line(argv: Sequence[str]) -> str:
    """The command as typed, with ``MNIST_DATA`` when it says where the data is."""
    python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd()) \
        else "python"
    words = [python, os.path.relpath(sys.argv[0]), *argv]
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
    given = {"seeds": args.seeds, "epochs": args.epochs}
    settings = (quick_settings if args.quick else Settings)(
        **{k: v for k, v in given.items() if v is not None}, data_dir=args.data_dir,
        device=args.device, log_dir=args.log_dir or None, engine=args.engine,
        only=tuple(args.only) if args.only else None)
    check_writable(args.out, "the report", "choose another folder with --out")
    if args.from_json:
        try:
            reproduction = load(args.from_json)  # a malformed file: ValueError, one line
        except OSError as e:
            return cannot(f"read {args.from_json}", e)
    try:
        if not args.from_json:
            reproduction = reproduce(settings, report=lambda line: print(line, flush=True),
                                     command=command_line(argv))
        paths = save(reproduction, args.out)
    except OSError as e:
        return cannot(f"write to {args.out}", e)
    print()
    print(table(reproduction))
    done = (f"rendered from {args.from_json}" if args.from_json
            else f"total wall time {reproduction.wall_seconds:.0f} s")
    print(f"\n{done}; wrote {', '.join(str(p) for p in paths.values())}")
    return 0

