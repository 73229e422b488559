"""What every command shares: one-line errors, argument types, and parsing helpers.

A problem the user can fix (``mnist_mlp.errors.UserError``) is printed as one line, ``error: …``
saying what to do, with exit status 2 and no traceback; Ctrl-C exits with 130; a reader that
stops early (``… | head``) ends the command quietly. Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import NoReturn

from ..errors import UserError

_NOT_GIVEN = object()


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (no usage block), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def parse_noting_given(parser: argparse.ArgumentParser, argv: Sequence[str] | None,
                       names: Iterable[str]) -> tuple[argparse.Namespace, set[str]]:
    """Parse ``argv``, and say which of the options ``names`` were given (not left at default).

    Each name starts as a marker in the namespace; argparse overwrites it only when the option
    is on the command line. The markers left are then removed and a second parse of no
    arguments fills in the defaults (for options only: names that are none stay absent).
    """
    names = set(names)
    args = parser.parse_args(argv, argparse.Namespace(**dict.fromkeys(names, _NOT_GIVEN)))
    given = {name for name in names if getattr(args, name) is not _NOT_GIVEN}
    for name in names - given:
        delattr(args, name)
    return parser.parse_args([], args), given


def one_line_errors(main: Callable[..., int]) -> Callable[..., int]:
    """Wrap a command's ``main``: a user error prints one ``error: …`` line and exits 2, Ctrl-C
    prints ``interrupted`` and exits 130, a reader that stops early (``… | head``) ends the
    command quietly with status 1 — never a traceback; a warning is one ``warning: …`` line."""

    @functools.wraps(main)
    def guarded(argv: Sequence[str] | None = None) -> int:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_line
            return _run(argv)

    def _run(argv: Sequence[str] | None) -> int:
        try:
            code = main(argv)
            sys.stdout.flush()  # a closed pipe shows here rather than at the interpreter's exit
            return code
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to say
            return 1
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2

    return guarded


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """Show a warning to a command's user as one line, without the source line."""
    print(f"warning: {message}", file=sys.stderr)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value
