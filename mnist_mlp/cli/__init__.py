"""The commands ``train``, ``evaluate``, ``predict`` and ``merge`` (``mnist-mlp-train``… and
``scripts/train.py``…): argument parsing and printing only. What a command beside the library
needs (the lab's, the demo's) is public here, loaded on first use so that importing this module
loads no torch. How the commands are built: docs/commands.md."""

from __future__ import annotations

import functools
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
           "one_line_errors", "outputs_that_may_close", "positive_float", "positive_int",
           "predict", "quoted", "run", "run_command", "shard_option", "slurm_shard", "train"]
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
    """Parse the command line with ``parser`` (if any: one that loads no torch answers
    ``--help`` at once), then import ``module`` and run its ``main``; Ctrl-C while torch loads
    is one line and status 130."""
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
    """Run the library's command ``command``, its options parsed before torch loads."""
    return run_command(f"{__name__}.{command}",
                       lambda: importlib.import_module(f"{__name__}.options").PARSERS[command]())


train = functools.partial(run, "train")  # mnist-mlp-train
evaluate = functools.partial(run, "evaluate")  # mnist-mlp-evaluate
predict = functools.partial(run, "predict")  # mnist-mlp-predict
merge = functools.partial(run, "merge")  # mnist-mlp-merge
