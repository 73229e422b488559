"""The one kind of error a user can fix.

Every problem that comes from the user's input — missing or corrupt data, an impossible setting,
a checkpoint that does not fit, an unwritable folder, a diverged run — raises a ``UserError``
(or a subclass), whose message is one line that says what to do. The commands print it as
``error: …`` and exit with status 2, without a traceback. Anything else is a bug and keeps its
traceback: a ``ValueError`` raised by a mistake in the code is not caught as a user's error.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; the message is one line (whitespace runs are collapsed)."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class ConfigError(UserError, ValueError):
    """An impossible or unknown setting (a ``ValueError`` too, for callers that catch those)."""
