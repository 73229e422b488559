"""The commands: argument parsing and printing only; the work is done by the layers below.

``train`` (``mnist-mlp-train``, ``scripts/train.py``), ``evaluate`` (``mnist-mlp-evaluate``),
``predict`` (``mnist-mlp-predict``), ``reproduce``, ``claims``, ``compare_engines``, ``bench`` and
``slowdown`` (``scripts/<name>.py``). Each ``main`` is wrapped by ``common.one_line_errors``.
"""

from __future__ import annotations

import importlib
import sys


def run(command: str) -> int:
    """Parse the command line, then import the command ``command`` and run its ``main``.

    The options come from ``options``, which loads no torch: ``--help``, ``--version`` and a
    mistyped option answer at once. Loading torch then takes a second or two; Ctrl-C meanwhile
    ends the command with one line and status 130, not a traceback. (The lab's commands, whose
    options are not in ``options``, load torch before they parse.)
    """
    try:
        parser = importlib.import_module(f"{__name__}.options").PARSERS.get(command)
        if parser is not None:  # help in any locale, to a closed pipe: as the command prints
            with importlib.import_module(f"{__name__}.common").outputs_that_may_close():
                parser().parse_args()
        main = importlib.import_module(f"{__name__}.{command}").main
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return main()


def train() -> int:
    """``mnist-mlp-train``."""
    return run("train")


def evaluate() -> int:
    """``mnist-mlp-evaluate``."""
    return run("evaluate")


def predict() -> int:
    """``mnist-mlp-predict``."""
    return run("predict")


def demo() -> int:
    """``mnist-mlp-demo``."""
    return run("demo")


def merge() -> int:
    """``mnist-mlp-merge``."""
    return run("merge")
