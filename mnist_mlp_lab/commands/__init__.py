"""The lab's commands, each run by its script: ``scripts/reproduce.py``, ``scripts/claims.py``,
``scripts/compare_engines.py``, ``scripts/bench.py`` and ``scripts/slowdown.py`` (argument
parsing and printing; the work is done by the modules of ``mnist_mlp_lab``). Each ``main`` is
wrapped by ``mnist_mlp.cli.one_line_errors``: a user error is one line, exit status 2."""

from __future__ import annotations

import argparse
import importlib

from mnist_mlp.cli import run_command

COMMANDS = ("bench", "claims", "compare_engines", "reproduce", "slowdown")


def run(command: str) -> int:
    """Run the lab's command ``command`` (one of ``COMMANDS``), its options parsed before torch
    loads (``options``)."""
    if command not in COMMANDS:
        raise ValueError(f"no lab command {command!r}; the commands are {', '.join(COMMANDS)}")

    def parser() -> argparse.ArgumentParser:
        return importlib.import_module(f"{__name__}.options").PARSERS[command]()

    return run_command(f"{__name__}.{command}", parser)
