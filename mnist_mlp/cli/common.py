"""What every command shares: one-line errors (``one_line_errors``), signals taken as Ctrl-C,
outputs that may close (``MayClose``), the commands printed for the user to run next, and the
argument types. What they guarantee: docs/commands.md."""

from __future__ import annotations

import argparse
import codecs
import contextlib
import errno
import functools
import io
import math
import os
import shlex
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn, TextIO

from ..errors import ConfigError, HungUp, Terminated, UserError, exit_status
from ..training.parallel import Shard

_NOT_GIVEN = object()


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (no usage block), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def parse_noting_given(parser: argparse.ArgumentParser, argv: Sequence[str] | None,
                       names: Iterable[str]) -> tuple[argparse.Namespace, set[str]]:
    """Parse ``argv``, and say which of the options ``names`` were given (not left at default):
    each starts as a marker that argparse overwrites only when given; a second parse of no
    arguments then fills in the defaults of the others."""
    names = set(names)
    args = parser.parse_args(argv, argparse.Namespace(**dict.fromkeys(names, _NOT_GIVEN)))
    given = {name for name in names if getattr(args, name) is not _NOT_GIVEN}
    for name in names - given:
        delattr(args, name)
    return parser.parse_args([], args), given


def one_line_errors(main: Callable[..., int]) -> Callable[..., int]:
    """Wrap a command's ``main``: a user error is one ``error: …`` line and status 2; Ctrl-C,
    SIGTERM and SIGHUP one ``interrupted`` line and 130, 143, 129; a warning one line; output
    that cannot be written is dropped while the work runs on — but where the output is the
    result (``RESULTS``), one lost to a full disk is an error. A bug keeps its traceback."""

    @functools.wraps(main)
    def guarded(argv: Sequence[str] | None = None) -> int:
        status: int | None = None  # once decided, a signal on the way out (torchrun stopping
        out: object = None         # a rank that has said its last line) changes nothing
        try:
            with warnings.catch_warnings(), signals_as_interrupts(), outputs_that_may_close():
                out = sys.stdout
                warnings.showwarning = _warning_line
                try:
                    status = main(argv)
                except KeyboardInterrupt as stop:
                    status = exit_status(stop)
                    print("interrupted", file=sys.stderr)
                except UserError as error:
                    status = 2
                    print(f"error: {error}", file=sys.stderr)
        except KeyboardInterrupt as stop:
            if status is None:
                print("interrupted", file=sys.stderr)
                status = exit_status(stop)
        assert status is not None
        lost = getattr(out, "lost", None)
        if status == 0 and lost is not None and main.__module__ in RESULTS:
            with contextlib.suppress(OSError):
                print(f"error: the result could not be written ({lost.strerror or lost}); free "
                      "some space or send it elsewhere", file=sys.stderr)
            status = 2
        return status

    return guarded


RESULTS = ("mnist_mlp.cli.evaluate", "mnist_mlp.cli.predict", "mnist_mlp.cli.merge")
"""The commands whose standard output is their result: lost, it is lost (a run's is in files)."""


INTERRUPTIONS: dict[int, type[KeyboardInterrupt]] = {signal.SIGTERM: Terminated,
                 **({signal.SIGHUP: HungUp} if hasattr(signal, "SIGHUP") else {})}
"""The signals taken as Ctrl-C is, and what each raises."""


def _raise_interruption(signum: int, frame: object) -> None:
    raise INTERRUPTIONS[signum]()


@contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """While the block runs, SIGTERM raises ``Terminated`` and SIGHUP ``HungUp``, handled as
    Ctrl-C is; a SIGHUP ignored from the start (``nohup``) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in INTERRUPTIONS}
    for signum, handler in previous.items():
        if handler is not signal.SIG_IGN or signum == signal.SIGTERM:
            signal.signal(signum, _raise_interruption)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


PLAIN = {"±": "+/-", "–": "-", "—": "-", "−": "-", "η": "eta", "≤": "<=", "≥": ">=", "…": "...",
         "×": "x", "·": "*", "→": "->", "←": "<-", "²": "^2", "¹": "^1", "σ": "sigma",
         "Σ": "sum", "∂": "d", "ℓ": "l", "θ": "theta", "φ": "phi", "ψ": "psi", "δ": "delta",
         "‘": "'", "’": "'", "“": '"', "”": '"', "≈": "~"}
"""Plain ASCII for the characters the commands print, where a stream cannot encode them."""


def _plain(error: UnicodeError) -> tuple[str, int]:
    """A codecs error handler: each character in its ASCII form from ``PLAIN``, else ``?``."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    return "".join(PLAIN.get(c, "?") for c in error.object[error.start:error.end]), error.end


codecs.register_error("mnist-mlp-plain", _plain)


class MayClose(io.TextIOBase):
    """A text stream that, from the first error writing it (a broken pipe, a full disk, a
    hung-up terminal, a closed file), sends everything to the null device instead of failing;
    text its encoding cannot hold is written in plain ASCII (``PLAIN``)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream, self.gone = stream, False
        self.lost: OSError | None = None  # the error that lost the output, not a reader gone

    def write(self, text: str) -> int:
        self._quietly(lambda: self.stream.write(self._encodable(text)))
        return len(text)

    def flush(self) -> None:
        self._quietly(self.stream.flush)

    def _encodable(self, text: str) -> str:
        with contextlib.suppress(LookupError):  # an unknown encoding: the stream will say so
            return text.encode(self.encoding, "mnist-mlp-plain").decode(self.encoding)
        return text

    def _quietly(self, act: Callable[[], object]) -> None:
        if self.gone:
            return
        try:
            act()
        except (OSError, ValueError) as error:
            if isinstance(error, ValueError) and not getattr(self.stream, "closed", False):
                raise  # not a closed file: a bug
            self.gone = True
            if isinstance(error, OSError) and error.errno not in (errno.EPIPE, errno.EIO,
                                                                     errno.EBADF):
                self.lost = error  # a full disk, say: not a pipe closed, a terminal hung up
            with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
                os.dup2(os.open(os.devnull, os.O_WRONLY), self.stream.fileno())

    def isatty(self) -> bool:
        return not self.gone and self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property  # (typeshed's TextIOBase has a writable attribute; this one is the stream's)
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", None) or "utf-8"


@contextmanager
def outputs_that_may_close() -> Iterator[None]:
    """stdout and stderr as ``MayClose`` streams while the block runs; one closed before the
    program started (``>&-``) becomes the null device, so no file opened takes its descriptor."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = (MayClose(stream if stream is not None else _null(fd))
                              for stream, fd in ((sys.stdout, 1), (sys.stderr, 2)))
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        sys.stdout, sys.stderr = saved


def _null(fd: int) -> TextIO:
    """The null device on descriptor ``fd`` (1 or 2), which is closed, as a text stream."""
    null = os.open(os.devnull, os.O_WRONLY)
    if null != fd:
        os.dup2(null, fd)
        os.close(null)
    return open(fd, "w", closefd=False)  # as long as the process lives


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def quoted(path: str | os.PathLike) -> str:
    """A path shell-quoted, so that a printed command pastes it as one word."""
    return shlex.quote(str(path))


def program(name: str) -> str:
    """A program of this installation as a printed command names it, to work when pasted: by
    its path in a virtual environment that is not activated (relative where it lies below the
    current folder, ``.venv/bin/tensorboard``), else by its bare name."""
    scripts = Path(sys.prefix, "Scripts" if os.name == "nt" else "bin")
    if sys.prefix == sys.base_prefix or _on_path(scripts):
        return name
    path = str(scripts / name)
    with contextlib.suppress(ValueError):  # on another drive (Windows): the absolute path
        inside = os.path.relpath(path)
        if not inside.startswith(os.pardir):
            path = inside if os.sep in inside else os.path.join(os.curdir, inside)
    return quoted(path)


def command(name: str, *arguments: str | os.PathLike) -> str:
    """A command for the user to run next: ``program(name)`` and the arguments, quoted."""
    return " ".join([program(name), *map(quoted, arguments)])


def python() -> str:
    """The running Python, as ``program`` names it (``python3`` where that is its name)."""
    return program(Path(sys.executable).name or "python")


def _on_path(folder: Path) -> bool:
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        with contextlib.suppress(OSError):
            if entry and os.path.samefile(entry, folder):
                return True
    return False


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


def shard_option(text: str) -> Shard:
    """``--shard I/N``, its mistakes in argparse's one line."""
    try:
        return Shard.parse(text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
