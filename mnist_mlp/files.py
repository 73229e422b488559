"""Files: the paths a user gives, examined before they are opened; folders checked before work
starts; files written atomically (a temporary file, then a rename, with Ctrl-C, SIGTERM and
SIGHUP held until the file is whole); JSON read within bounds. Why: docs/guarantees.md."""

from __future__ import annotations

import errno
import json
import math
import os
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from .errors import UserError

__all__ = ["FILE", "FOLDER", "FolderError", "JSONFileError", "PathError", "check_writable",
           "examine", "read_json", "signals_held", "write_atomically", "write_json"]


class PathError(UserError):
    """A path the user gave that cannot be examined or is not what it should be."""


class FolderError(PathError):
    """A folder that cannot be created or written; the message says which and what to do."""


FILE, FOLDER = "file", "folder"
KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
         (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
         (stat.S_ISSOCK, "a socket"), (stat.S_ISREG, "a file"))


def kind_of(status: os.stat_result) -> str:
    """What a path is, in words: "a folder", "a FIFO (named pipe)", "a file", …"""
    return next((name for test, name in KINDS if test(status.st_mode)), "a special file")


def examine(path: str | os.PathLike, what: str, fix: str, want: str | None = None,
            error: type[UserError] = PathError) -> os.stat_result | None:
    """The status of ``path``, a path the user gave (``what`` names it); None if nothing is there.

    ``error`` ending with ``fix`` for one that cannot be examined (EACCES, ENAMETOOLONG, ELOOP) or
    is not ``want``: ``FILE`` a regular file (never a FIFO or device that may hang), ``FOLDER``."""
    try:
        status = _status(path)
    except OSError as problem:
        raise error(f"cannot examine {what} {path}: {problem.strerror or problem}; {fix}"
                    ) from None
    wanted = {FILE: stat.S_ISREG, FOLDER: stat.S_ISDIR}.get(want or "")
    if status is not None and wanted is not None and not wanted(status.st_mode):
        raise error(f"{what} {path} is {kind_of(status)}, not a {want}; {fix}")
    return status


def check_writable(folder: str | os.PathLike, what: str, fix: str) -> Path:
    """``folder``, once ``what`` (e.g. "logs and checkpoints") is known to be writable in it, else
    ``FolderError`` ending with ``fix``. Checked before data loads, so that a run fails at once; a
    missing folder is not created (its nearest existing parent must be a writable folder)."""
    path = existing = Path(folder)
    try:
        while (status := _status(existing)) is None and existing != existing.parent:
            existing = existing.parent
        if status is None or not stat.S_ISDIR(status.st_mode):
            raise NotADirectoryError(errno.ENOTDIR, f"{existing} is not a folder")
        tempfile.NamedTemporaryFile(dir=existing).close()  # raises if not writable
    except OSError as error:
        raise FolderError(f"cannot write {what} under {path}: {error.strerror or error}; {fix}"
                          ) from None
    return path


def _status(path: str | os.PathLike) -> os.stat_result | None:
    """``os.stat(path)``, None where nothing is; other ``OSError`` for the caller to word."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


STOPPING = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                 if hasattr(signal, name))
"""The signals that stop a command (Ctrl-C, a scheduler, a closed terminal)."""


@contextmanager
def signals_held(signals: tuple[int, ...] = STOPPING) -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP while the block runs, then act on them. Only in the main
    thread (the one that receives signals), and only for handlers set from Python."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    held = [s for s in signals if signal.getsignal(s) is not None]
    previous = {s: signal.signal(s, lambda signum, frame: received.append(signum)) for s in held}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for s in received:
            signal.raise_signal(s)  # now the restored handler acts


def write_atomically(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> None:
    """``write(file)`` on a temporary file beside ``path``, renamed into place: ``path`` is
    always the old file or the whole new one, signals held meanwhile (``signals_held``). Never
    in place of what is not a file (a device such as /dev/null, a FIFO): ``OSError`` instead."""
    path = Path(path)
    if path.exists() and not path.is_file():  # (a link to a file is a file: the link is replaced)
        raise OSError(errno.EEXIST, "it exists and is not a file; name a file to write")
    with signals_held():
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.",
                                   suffix=f"{path.suffix}.tmp")
        try:
            with os.fdopen(fd, "wb") as file:
                write(file)
                file.flush()
                os.fsync(file.fileno())
            umask = os.umask(0)  # read it (and put it back): mkstemp makes the file 0600
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def strict_json(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by None (strict JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value


def write_json(path: str | os.PathLike, data: Any, strict: bool = True) -> None:
    """``data`` as indented JSON, atomically; NaN and infinities as null if ``strict``, else as
    the tokens ``NaN`` and ``Infinity``, which ``read_json`` reads back as the same floats."""
    data = strict_json(data) if strict else data
    text = json.dumps(data, indent=1, allow_nan=not strict, ensure_ascii=False) + "\n"
    write_atomically(path, lambda file: file.write(text.encode()))


class JSONFileError(UserError):
    """A file that cannot be read as JSON within bounds; ``problem``: why, in a few words."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.problem = problem


MAX_DEPTH = 32  # how deeply a JSON file read by read_json may nest lists and objects


def read_json(path: str | os.PathLike, limit: int) -> Any:
    """The JSON value (``NaN``, ``Infinity`` as floats) in the regular file ``path`` of at most
    ``limit`` bytes, nested at most ``MAX_DEPTH`` deep; else ``JSONFileError``, in time and memory
    bounded by ``limit`` (a FIFO or a device is refused unread, without waiting for a writer)."""
    path = Path(path)
    too_large = f"it is larger than {limit >> 20} MiB"
    too_deep = f"it nests lists or objects more than {MAX_DEPTH} deep"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise JSONFileError(path, f"it is {kind_of(info)}, not a file")
            if info.st_size > limit:
                raise JSONFileError(path, too_large)
            with os.fdopen(os.dup(fd), "rb") as file:
                data = file.read(limit + 1)
        finally:
            os.close(fd)
    except OSError as error:
        raise JSONFileError(path, f"it cannot be read ({error.strerror or error})") from None
    if len(data) > limit:
        raise JSONFileError(path, too_large)
    try:
        value = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise JSONFileError(path, "it is not text (not UTF-8)") from None
    except json.JSONDecodeError as error:
        raise JSONFileError(path, f"it is not JSON ({error.msg} at line {error.lineno}, "
                                  f"column {error.colno})") from None
    except RecursionError:  # the decoder's own limit, for lists nested thousands deep
        raise JSONFileError(path, too_deep) from None
    except ValueError:  # an integer of more digits than Python converts (4300)
        raise JSONFileError(path, "it holds a number of more digits than can be read") from None
    if depth(value) > MAX_DEPTH:
        raise JSONFileError(path, too_deep)
    return value


def depth(value: Any) -> int:
    """How deeply ``value`` nests lists and dicts (0: a number or a string), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level + 1)
            stack.extend((child, level + 1) for child in item)
    return deepest
