"""The commands: argument parsing and printing only; the work is done by the layers below.

``train`` (``mnist-mlp-train``, ``scripts/train.py``), ``evaluate`` (``mnist-mlp-evaluate``),
``predict`` (``mnist-mlp-predict``), ``reproduce``, ``claims``, ``compare_engines``, ``bench`` and
``slowdown`` (``scripts/<name>.py``). Each ``main`` is wrapped by ``common.one_line_errors``.
"""

from __future__ import annotations

import importlib
import sys


def run(command: str) -> int:
    """Import the command ``command`` and run its ``main``. Loading torch takes a second or two;
    Ctrl-C meanwhile ends the command with one line and status 130, not a traceback."""
    try:
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
