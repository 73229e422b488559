"""Building and loading the compiled loop (``epoch.c``, beside this file).

It is compiled on first use with the system's C compiler (``$CC``, else ``cc``) into a cache
folder (``$MNIST_MLP_CACHE``, else ``~/.cache/mnist-mlp``), once per source, flags and CPU, and
loaded with ``ctypes`` — only from a folder, and only a file, that belong to this user and that
nobody else can write (``_cache_dir``). A library is checked as it is loaded (its structs
against the Python caller's, its tables of names against epoch.c's): a cached one that fails
is built again, once, and a new one enters the cache only once it has passed. Where no compiler
works, or its library fails, ``library`` returns None and says why in ``unavailable_reason``.
``MNIST_MLP_NATIVE=0`` turns the loop off.

The arguments travel to C in one struct per function, declared in epoch.c from a list of its
fields (``EPOCH_ARGS``), which Python reads too (``struct_fields``): adding a field is one line
of C, and its use. Its layout is checked against the compiled one; the C enums are read from the
library's tables of names.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import re
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("epoch.c")
FLAG_SETS = (("-O3", "-march=native"), ("-O3",))
"""Optimisation flags, tried in turn: for this CPU, and portable where ``-march=native`` fails."""
REALS = {torch.float32: ("float", ctypes.c_float), torch.float64: ("double", ctypes.c_double)}
ENUMS = {"hidden": "HIDDEN_NAMES", "output": "OUTPUT_NAMES", "loss": "LOSS_NAMES"}
"""epoch.c's tables of names for its enums: a name's value is its index there."""

unavailable_reason: str | None = None
"""Why ``library`` returned None (no compiler, a failed build, turned off), or None."""


def _cache_dir() -> Path:
    """Where built libraries are kept and loaded from: ``$MNIST_MLP_CACHE``, else
    ``~/.cache/mnist-mlp``, made private (0700) if new — but only a folder of this user's that
    nobody else can write: code loaded from a folder others can write could be anyone's. Any
    other folder, or one that cannot be made, gives way to a private temporary one (said once)."""
    if os.environ.get("MNIST_MLP_CACHE"):
        folder = Path(os.environ["MNIST_MLP_CACHE"])
    else:
        folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mnist-mlp"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        why = _not_private(folder)
    except OSError as error:
        why = f"cannot be made ({error.strerror or error})"
    return _private_folder(f"the cache folder {folder} {why}") if why else folder


def _not_private(path: Path) -> str | None:
    """Why code in ``path`` (a folder or a file) could be someone else's: it belongs to another
    user, or others can write it. None when it is this user's alone."""
    status = path.stat()  # follows links: what counts is what is loaded
    if hasattr(os, "getuid") and status.st_uid != os.getuid():
        return f"belongs to another user (uid {status.st_uid})"
    if status.st_mode & 0o022:
        return "can be written by other users"
    return None


_private: Path | None = None


def _private_folder(reason: str) -> Path:
    """A new private temporary folder for this process's builds (made and announced once)."""
    global _private
    if _private is None:
        _private = Path(tempfile.mkdtemp(prefix="mnist-mlp-"))
        warnings.warn(f"{reason}: compiled code is built in the private folder {_private} "
                      "instead", stacklevel=2)
    return _private


def cached(name: str, make: Callable[[Path], object],
           check: Callable[[Path], object] | None = None) -> Path:
    """The file ``name`` of the cache folder (``_cache_dir``), made first if it is not there:
    ``make(path)`` writes a temporary file in that folder, which ``check(path)`` (if given)
    accepts or refuses by raising ``BrokenLibraryError``, and which is then renamed (atomic: a
    concurrent build finds a whole file or none). A cached file that ``check`` refuses is
    removed and made again, once; nothing that fails its check is ever kept. A file there that
    is not this user's alone gives way to one made in a private temporary folder. Whatever
    ``make`` or ``check`` raise is raised, and nothing half-written is left."""
    folder = _cache_dir()
    target = folder / name
    if target.exists() and (why := _not_private(target)):
        target = _private_folder(f"the cached file {target} {why}") / name
    if target.exists():
        try:
            if check is not None:
                check(target)
            return target
        except BrokenLibraryError:
            target.unlink(missing_ok=True)  # and made again below
    fd, temporary = tempfile.mkstemp(suffix=target.suffix, dir=target.parent)
    os.close(fd)
    try:
        make(Path(temporary))
        if check is not None:
            check(Path(temporary))
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target


def _machine_key(compiler: str, flags: tuple[str, ...]) -> bytes:
    """What a compiled library depends on: source, compiler, flags and (``-march=native``) the
    CPU."""
    cpu = ""
    try:
        cpu = "".join(line for line in Path("/proc/cpuinfo").read_text().splitlines(True)
                      if line.startswith(("model name", "flags")))
    except OSError:
        pass
    parts = (SOURCE.read_bytes(), " ".join(flags), compiler, platform.platform(),
             platform.processor(), cpu)
    return b"\0".join(p if isinstance(p, bytes) else p.encode() for p in parts)


def compiler() -> str | None:
    """The C compiler to build with: ``$CC``, else ``cc`` or ``gcc`` on the PATH."""
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")


def library_name(cc: str, flags: tuple[str, ...], real: str) -> str:
    """The cached library's file name: a digest of all it depends on (``_machine_key``)."""
    digest = hashlib.sha256(_machine_key(cc, flags) + real.encode()).hexdigest()[:16]
    return f"epoch-{real}-{digest}.so"


class BrokenLibraryError(RuntimeError):
    """A compiled loop that cannot be loaded, or whose structs or enums are not those its Python
    caller passes: calling it would put arguments in the wrong places."""


class LoopLibrary(ctypes.CDLL):
    """The compiled loop as loaded: a ``ctypes.CDLL`` with what ``_loaded`` found out beside it
    — the flags it was built with, its argument structs, its tables of names."""

    flags: tuple[str, ...]
    args_type: type[ctypes.Structure]
    eval_args_type: type[ctypes.Structure]
    enums: dict[str, dict[str, int]]


def _built(real: str, c_real: type) -> LoopLibrary:
    """The loop with REAL = ``real``, loaded and checked (``_loaded``): the cached library, else
    ``epoch.c`` compiled for this CPU if the compiler can, else portably. A cached library that
    fails its check is removed and built again, once; a new one is checked under a temporary
    name and only then renamed into the cache, so that nothing broken is ever kept there."""
    cc = compiler()
    if cc is None:
        raise OSError("no C compiler found (install gcc, or set $CC)")
    failure, accepted = "", []

    def check(path: Path, flags: tuple[str, ...]) -> None:
        # the library that passed is the one used: loaded again from its cached name, a broken
        # one loaded there before would be found instead (the loader knows it by that name)
        accepted.append(_loaded(path, flags, c_real))

    for flags in FLAG_SETS:
        try:
            cached(library_name(cc, flags, real), functools.partial(
                compile_c, cc, [*flags, f"-DREAL={real}"], SOURCE),
                functools.partial(check, flags=flags))
        except OSError as error:
            failure = str(error)
            continue
        return accepted[-1]
    raise OSError(f"{cc} failed: {failure}")


def _loaded(path: Path, flags: tuple[str, ...], c_real: type) -> LoopLibrary:
    """The library at ``path``, loaded, its structs and enums checked against the Python
    caller's, its functions typed; ``BrokenLibraryError`` if any of that fails."""
    try:
        lib = LoopLibrary(str(path))
    except OSError as error:
        raise BrokenLibraryError(f"the library {path.name} cannot be loaded ({error})") from None
    lib.flags = flags
    lib.args_type, lib.eval_args_type = _args_types(c_real)
    try:
        _check_layout(lib)
        lib.enums = {kind: enum_names(lib, table) for kind, table in ENUMS.items()}
        lib.train_epoch.argtypes = [ctypes.POINTER(lib.args_type)]
        lib.evaluate.argtypes = [ctypes.POINTER(lib.eval_args_type)]
    except (AttributeError, ValueError) as error:  # a function or table it does not hold
        raise BrokenLibraryError(f"the library {path.name} is not the loop's: {error}"
                                 ) from None
    lib.train_epoch.restype = lib.evaluate.restype = ctypes.c_int
    _check_enums(lib)
    return lib


def compile_c(cc: str, flags: list[str], source: Path, target: Path) -> None:
    """``source`` compiled by ``cc`` with ``flags`` into the shared library ``target``; an
    OSError with the compiler's last words if it fails."""
    done = subprocess.run([cc, *flags, "-shared", "-fPIC", "-o", str(target), str(source),
                           "-lm"], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise OSError(done.stderr.strip()[-500:] or f"exit status {done.returncode}")


def describe() -> str:
    """The compiler and flags the loop is built with, or why there is no loop."""
    lib = library(torch.float32)
    if lib is None:
        return unavailable_reason or "unavailable"
    cc = compiler() or "cc"  # None only if the compiler went away after the build
    try:
        version = subprocess.run([cc, "--version"], capture_output=True, text=True,
                                 timeout=30).stdout.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        version = cc
    return f"{version} {' '.join(lib.flags)}"


@functools.cache
def library(dtype: torch.dtype) -> LoopLibrary | None:
    """The compiled loop for ``dtype`` (float32 or float64), or None (see
    ``unavailable_reason``)."""
    global unavailable_reason
    if os.environ.get("MNIST_MLP_NATIVE", "1") == "0":
        unavailable_reason = "turned off by MNIST_MLP_NATIVE=0"
        return None
    if dtype not in REALS:
        unavailable_reason = f"no native loop for {dtype}"
        return None
    real, c_real = REALS[dtype]
    try:
        return _built(real, c_real)
    except (OSError, subprocess.SubprocessError, BrokenLibraryError) as error:
        unavailable_reason = f"the native CPU loop could not be built: {error}"
        return None


def _args_types(c_real: type) -> tuple[type[ctypes.Structure], type[ctypes.Structure]]:
    """epoch.c's ``struct epoch_args`` and ``struct eval_args``, for REAL = ``c_real``: their
    fields read from its lists ``EPOCH_ARGS`` and ``EVAL_ARGS`` (``_check_layout`` compares the
    offsets with the compiled ones)."""
    text = SOURCE.read_text()

    class EpochArgs(ctypes.Structure):
        _fields_ = struct_fields(text, "EPOCH_ARGS", c_real)

    class EvalArgs(ctypes.Structure):
        _fields_ = struct_fields(text, "EVAL_ARGS", c_real)

    return EpochArgs, EvalArgs


C_TYPES = {"int64_t": ctypes.c_int64, "i64": ctypes.c_int64, "int32_t": ctypes.c_int32,
           "i32": ctypes.c_int32, "float": ctypes.c_float, "double": ctypes.c_double}
"""The C types of a struct's fields, as ctypes has them (any pointer is a ``c_void_p``)."""


def struct_fields(text: str, macro: str, real: type = ctypes.c_float) -> list[tuple[str, type]]:
    """The fields of a struct declared in the C source ``text`` from its list ``macro`` (one
    ``FIELD(type, name)`` a line), as ctypes ``_fields_``; REAL is ``real``."""
    match = re.search(rf"#define {macro}\(FIELD\)((?:[^\n]*\\\n)*[^\n]*)", text)
    if match is None:
        raise ValueError(f"the C source has no list {macro}")
    fields = []
    for kind, name in re.findall(r"FIELD\(([^,]+),\s*(\w+)\)", match.group(1)):
        base = kind.replace("const", "").strip()
        if "*" not in base and base not in {*C_TYPES, "REAL"}:
            raise ValueError(f"{macro}.{name} is of a type Python does not know: {kind}")
        fields.append((name, ctypes.c_void_p if "*" in base else
                       real if base == "REAL" else C_TYPES[base]))
    return fields


def _check_layout(lib: LoopLibrary) -> None:
    """Refuse a library whose structs are not laid out as ``lib.args_type`` and
    ``lib.eval_args_type``: an argument would land in the wrong field."""
    lib.args_layout.restype = ctypes.c_int64
    for which, struct in enumerate((lib.args_type, lib.eval_args_type)):
        fields = struct._fields_
        offsets = (ctypes.c_int64 * len(fields))()
        size = lib.args_layout(ctypes.c_int(which), offsets, ctypes.c_int64(len(fields)))
        ours = [getattr(struct, field[0]).offset for field in fields]
        if list(offsets) != ours or size != ctypes.sizeof(struct):
            raise BrokenLibraryError(f"epoch.c's {struct.__name__} (offsets {list(offsets)}, "
                                     f"size {size}) does not match its Python caller (offsets "
                                     f"{ours})")


def _check_enums(lib: LoopLibrary) -> None:
    """Refuse a library whose tables of names are not those of epoch.c as it stands: a function
    would be called by a number that means another."""
    if lib.enums != (ours := tables(SOURCE.read_text())):
        raise BrokenLibraryError(f"the library's names {lib.enums} are not epoch.c's {ours}")


def tables(text: str) -> dict[str, dict[str, int]]:
    """The C source ``text``'s tables of names (``HIDDEN_NAMES``, … of ``ENUMS``), each name
    with its index, which is its enum value (``{"loss": {"mse": 0, …}, …}``)."""
    found = {}
    for kind, table in ENUMS.items():
        match = re.search(rf"\b{table}\[\] = \{{([^}}]*)\}}", text)
        if match is None:
            raise BrokenLibraryError(f"the C source has no table {table}")
        found[kind] = {name: value for value, name in
                       enumerate(re.findall(r'"(\w+)"', match.group(1)))}
    return found


def enum_names(lib: ctypes.CDLL, table: str) -> dict[str, int]:
    """The names of one of epoch.c's enums (``HIDDEN_NAMES``, …) and their values."""
    first = ctypes.c_char_p.in_dll(lib, table)  # the table is an array of char *, 0 last
    entries = ctypes.cast(ctypes.addressof(first), ctypes.POINTER(ctypes.c_char_p))
    names: dict[str, int] = {}
    while (entry := entries[len(names)]) is not None:
        names[entry.decode()] = len(names)
    return names
