"""The one kind of error a user can fix (``UserError``, printed as one line, exit status 2), and
the interruptions: Ctrl-C (130), SIGTERM (``Terminated``, 143), SIGHUP (``HungUp``, 129).
Anything else is a bug and keeps its traceback. The guarantees: docs/guarantees.md."""

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
    """SIGHUP (a closed terminal), taken exactly like Ctrl-C: exit status 129."""

    exit_status = 129


def exit_status(interrupt: KeyboardInterrupt) -> int:
    """The exit status for an interruption: 130 for Ctrl-C (128 + SIGINT), else its own."""
    return getattr(interrupt, "exit_status", 130)
