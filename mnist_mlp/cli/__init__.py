"""The commands: argument parsing and printing only; the work is done by the layers below.

``train`` (``mnist-mlp-train``, ``scripts/train.py``), ``evaluate`` (``mnist-mlp-evaluate``),
``predict`` (``mnist-mlp-predict``) and ``merge`` (``mnist-mlp-merge``). Each ``main`` is wrapped
by ``common.one_line_errors``.

What a command beside the library needs (the lab's, ``mnist_mlp_lab.commands``, and the demo's,
``mnist_mlp_demo``) is public here: ``run_command``, ``command_parser`` (one-line errors, every
default in ``--help``, ``--version``), ``one_line_errors`` and the argument types. Like the
package, this module loads them on first use: importing it loads no torch.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

    from .common import (
        non_negative_int,
        one_line_errors,
        outputs_that_may_close,
        positive_float,
        positive_int,
        quoted,
        shard_option,
    )
    from .options import command_parser
    from .parallel import slurm_shard

__all__ = ["CountBar", "bars_wanted", "command_parser", "evaluate", "merge", "non_negative_int",
           "one_line_errors",
           "outputs_that_may_close", "positive_float", "positive_int", "predict", "quoted",
           "run", "run_command", "shard_option", "slurm_shard", "train"]
_HOME = {"CountBar": "progress", "bars_wanted": "progress",
         "command_parser": "options", "non_negative_int": "common",
         "one_line_errors": "common", "outputs_that_may_close": "common",
         "positive_float": "common", "positive_int": "common", "quoted": "common",
         "shard_option": "common", "slurm_shard": "parallel"}


def __getattr__(name: str) -> Any:
    """``command_parser``, ``one_line_errors``… on first use (``parallel`` loads torch)."""
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)


def run_command(module: str,
                parser: Callable[[], argparse.ArgumentParser] | None = None) -> int:
    """Parse the command line with ``parser`` (if any), then import the module ``module`` and
    run its ``main``.

    A parser that loads no torch (as those of ``options``) lets ``--help``, ``--version`` and a
    mistyped option answer at once. Loading torch then takes a second or two; Ctrl-C meanwhile
    ends the command with one line and status 130, not a traceback. (Without a parser the
    command loads torch before it parses, as the lab's commands do.)
    """
    try:
        if parser is not None:  # help in any locale, to a closed pipe: as the command prints
            with importlib.import_module(f"{__name__}.common").outputs_that_may_close():
                parser().parse_args()
        main = importlib.import_module(module).main
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return main()


def run(command: str) -> int:
    """Run the library's command ``command`` (``train``, ``evaluate``, ``predict``, ``merge``),
    its options parsed before torch loads."""
    def parser() -> argparse.ArgumentParser:
        return importlib.import_module(f"{__name__}.options").PARSERS[command]()

    return run_command(f"{__name__}.{command}", parser)


def train() -> int:
    """``mnist-mlp-train``."""
    return run("train")


def evaluate() -> int:
    """``mnist-mlp-evaluate``."""
    return run("evaluate")


def predict() -> int:
    """``mnist-mlp-predict``."""
    return run("predict")


def merge() -> int:
    """``mnist-mlp-merge``."""
    return run("merge")
