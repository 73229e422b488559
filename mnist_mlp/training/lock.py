"""One writer per run folder: the lock file ``RUN/.lock``.

A run that writes a run folder — a new run, a resumed one, each network of a sweep — first
creates ``.lock`` in it with ``O_CREAT | O_EXCL`` (which only one process can do), recording its
process id and host, and removes it when it stops, however it stops (the end, Ctrl-C, SIGTERM,
a divergence, an error). A second writer finds the file and stops with one line naming the
holder. A process killed outright (SIGKILL, a lost node) leaves its lock behind: when its
process is gone — same host, ``os.kill(pid, 0)`` finds no such process — the next writer takes
the lock over and says so once. A lock held on another host cannot be checked from here, nor
one that cannot be read: they are never taken over, and the message says how to remove them.

No file is held open (a sweep of a thousand networks holds a thousand locks), and a take-over
is itself exclusive (``.lock.takeover``), so that two writers finding the same stale lock never
both take it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..files import FolderError, JSONFileError, read_json

LOCK = ".lock"
"""The lock file in a run folder."""


class RunLockedError(UserError):
    """Another process writes the run folder; the message names it and what to do."""


class RunLock:
    """The lock of one run folder, held by this process (``release`` lets it go)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK
        self.mine = {"pid": os.getpid(), "host": socket.gethostname(),
                     "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        if not _create(self.path, self.mine):
            self._take_over()

    def _take_over(self) -> None:
        """Take the lock from a process that is gone, said once; else ``RunLockedError``."""
        holder = _holder(self.path)
        if holder is None:  # being written this very moment, or damaged: never taken
            raise RunLockedError(f"{self.path.parent} is locked by another writer, whose lock "
                                 "cannot be read; if no run writes this folder, remove "
                                 f"{self.path}")
        if _alive(holder):
            raise RunLockedError(f"{self.path.parent} is being written by {_who(holder)}; "
                                 "wait until it ends (or stop it) before writing the run "
                                 f"folder again (if no such run is going on, remove {self.path})")
        guard = self.path.with_name(LOCK + ".takeover")
        if not _create(guard, self.mine):
            raise RunLockedError(f"another process is taking over the lock of "
                                 f"{self.path.parent} ({guard} exists); try again, or remove "
                                 f"{guard} if no process is")
        try:
            if _holder(self.path) == holder:  # nobody took it meanwhile
                self.path.unlink(missing_ok=True)
            if not _create(self.path, self.mine):
                raise RunLockedError(f"{self.path.parent} was just locked by "
                                     f"{_who(_holder(self.path))}; wait until it ends")
        finally:
            guard.unlink(missing_ok=True)
        warnings.warn(f"took over the lock of {self.path.parent} from {_who(holder)}, which is "
                      "gone (stopped without removing it)", stacklevel=3)

    def release(self) -> None:
        """Remove the lock file, if it is still this process's."""
        if _holder(self.path) == self.mine:
            with contextlib.suppress(OSError):
                self.path.unlink()


def _create(path: Path, record: dict[str, Any]) -> bool:
    """Create ``path`` holding ``record`` if it does not exist (False if it does);
    ``FolderError`` if it cannot be written."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    except OSError as error:
        raise FolderError(f"cannot lock the run folder {path.parent}: "
                          f"{error.strerror or error}; make it writable") from None
    try:
        with os.fdopen(fd, "w") as file:
            json.dump(record, file)
    except OSError as error:  # a full disk: no empty lock left behind
        path.unlink(missing_ok=True)
        raise FolderError(f"cannot lock the run folder {path.parent}: "
                          f"{error.strerror or error}; free some space") from None
    return True


def _holder(path: Path) -> dict[str, Any] | None:
    """The record of the lock at ``path`` (None: none, or not one that can be read)."""
    try:
        record = read_json(path, 4096)
    except JSONFileError:
        return None
    if not (isinstance(record, dict) and type(record.get("pid")) is int
            and isinstance(record.get("host"), str)):
        return None
    return record


def _alive(holder: dict[str, Any]) -> bool:
    """Whether the lock's process may still run: on this host, whether it exists; on another
    host it cannot be told, so yes."""
    if holder["host"] != socket.gethostname():
        return True
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's
        return True
    except (OverflowError, ValueError):  # not a process id at all
        return False
    return True


def _who(holder: dict[str, Any] | None) -> str:
    if holder is None:
        return "another process"
    since = f" since {str(holder.get('since'))[:40]}" if holder.get("since") else ""
    return f"process {holder['pid']} on {holder['host'][:100]}{since}"


