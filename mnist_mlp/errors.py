"""The one kind of error a user can fix.

Every problem that comes from the user's input — missing or corrupt data, an impossible setting,
a checkpoint that does not fit, an unwritable folder, a diverged run — raises a ``UserError``
(or a subclass), whose message is one line that says what to do. The commands print it as
``error: …`` and exit with status 2, without a traceback. Anything else is a bug and keeps its
traceback: a ``ValueError`` raised by a mistake in the code is not caught as a user's error.

Ctrl-C is a ``KeyboardInterrupt`` (exit status 130); SIGTERM, what a scheduler sends to preempt a
job, is taken the same way as ``Terminated`` (exit status 143), and SIGHUP, what a closed terminal
sends, as ``HungUp`` (exit status 129), once a command has asked for it.
"""

from __future__ import annotations

__all__ = ["ConfigError", "HungUp", "Terminated", "UserError", "exit_status"]


class UserError(Exception):
    """A problem the user can fix; the message is one line (whitespace runs are collapsed)."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class ConfigError(UserError, ValueError):
    """An impossible or unknown setting (a ``ValueError`` too, for callers that catch those)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, taken exactly like Ctrl-C: the last completed epoch is kept, exit status 143."""

    exit_status = 143


class HungUp(KeyboardInterrupt):
    """SIGHUP (a closed terminal, a dropped ssh session), taken exactly like Ctrl-C: the last
    completed epoch is kept, exit status 129."""

    exit_status = 129


def exit_status(interrupt: KeyboardInterrupt) -> int:
    """The exit status for an interruption: 130 for Ctrl-C (128 + SIGINT), 143 for SIGTERM, 129
    for SIGHUP."""
    return getattr(interrupt, "exit_status", 130)
