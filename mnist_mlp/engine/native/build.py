"""The compiled loop (``epoch.c``) built on first use into a private cache (``cached``), loaded
with ``ctypes`` and checked against epoch.c and kinds.h; else ``library`` returns None and
``unavailable_reason`` says why. The rules: docs/engine.md ("Building and loading the loop")."""

from __future__ import annotations

import atexit
import ctypes
import functools
import hashlib
import os
import platform
import re
import shutil
import stat
import subprocess
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("epoch.c")
KINDS = SOURCE.with_name("kinds.h")  # the enums and their tables of names: epoch.c's and .cu's
HEADER = SOURCE.with_name("per_sample.h")  # one sample's functions: epoch.c's and epoch.cu's
HEADERS = (KINDS, HEADER)  # what epoch.c and epoch.cu include from this folder
FLAG_SETS = (("-O3", "-march=native"), ("-O3",))  # for this CPU, else portable
REALS = {torch.float32: ("float", ctypes.c_float), torch.float64: ("double", ctypes.c_double)}
ENUMS = {"hidden": "HIDDEN_NAMES", "output": "OUTPUT_NAMES", "loss": "LOSS_NAMES"}  # C tables
C_TYPES = {"int64_t": ctypes.c_int64, "i64": ctypes.c_int64, "int32_t": ctypes.c_int32,
           "i32": ctypes.c_int32, "float": ctypes.c_float, "double": ctypes.c_double}

unavailable_reason: str | None = None  # why ``library`` returned None
_private: Path | None = None  # this process's private folder, once made


def _cache_dir() -> Path:
    """Where compiled code is kept: ``$MNIST_MLP_CACHE``, else ``mnist-mlp`` in the user's cache
    folder, made private (0700) if new. Code in a folder others can write could be anyone's: a
    folder not this user's alone, or one that cannot be made, gives way to a private one."""
    folder = Path(os.environ.get("MNIST_MLP_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mnist-mlp")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        why = _not_private(folder)
    except OSError as error:
        why = f"cannot be made ({error.strerror or error})"
    return _private_folder(f"the cache folder {folder} {why}") if why else folder


def _not_private(path: Path) -> str | None:
    """Why code in ``path`` (a folder or a file) could be someone else's: it, or a folder above
    it, belongs to another user or can be written by others (who could swap what lies below; a
    sticky folder such as /tmp cannot be so used). None when it is this user's alone."""
    me = os.getuid() if hasattr(os, "getuid") else None
    status = path.stat()  # follows links: what counts is what is loaded
    if me is not None and status.st_uid != me:
        return f"belongs to another user (uid {status.st_uid})"
    if status.st_mode & 0o022:
        return "can be written by other users"
    for folder in path.resolve().parents:
        above = folder.stat()
        if me is not None and above.st_uid not in (0, me):
            return f"lies in {folder}, which belongs to another user (uid {above.st_uid})"
        if above.st_mode & 0o022 and not above.st_mode & stat.S_ISVTX:
            return f"lies in {folder}, which other users can write"
    return None


def _private_folder(reason: str) -> Path:
    """A new private temporary folder for this process's builds (made and announced once,
    removed when the process ends: a library loaded from it stays mapped until then)."""
    global _private
    if _private is None:
        _private = Path(tempfile.mkdtemp(prefix="mnist-mlp-"))
        atexit.register(shutil.rmtree, _private, ignore_errors=True)
        warnings.warn(f"{reason}: compiled code is built in the private folder {_private} "
                      "instead", stacklevel=2)
    return _private


def cached(name: str, make: Callable[[Path], object],
           check: Callable[[Path], object] | None = None) -> Path:
    """The file ``name`` of the private cache, made if it is not there by ``make(path)`` on a
    temporary file, renamed into place once ``check(path)`` passes it; a cached file ``check``
    refuses (``BrokenLibraryError``) is made again, once."""
    target = _cache_dir() / name
    if target.exists() and (why := _not_private(target)):
        target = _private_folder(f"the cached file {target} {why}") / name
    if target.exists():
        try:
            if check is not None:
                check(target)
            return target
        except BrokenLibraryError:
            target.unlink(missing_ok=True)  # and made again below
    fd, temporary_name = tempfile.mkstemp(suffix=target.suffix, dir=target.parent)
    os.close(fd)
    temporary = Path(temporary_name)
    try:
        make(temporary)
        if check is not None:
            check(temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


def digest(*parts: bytes | str) -> str:
    """A short digest of ``parts`` (sources, compiler, flags, …): a cached build's name."""
    joined = b"\0".join(part if isinstance(part, bytes) else part.encode() for part in parts)
    return hashlib.sha256(joined).hexdigest()[:16]


def compiler() -> str | None:
    """The C compiler to build with: ``$CC``, else ``cc`` or ``gcc`` on the PATH."""
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")


def library_name(cc: str, flags: tuple[str, ...], real: str) -> str:
    """The cached library's file name: a digest of all it depends on — the source and its
    headers, compiler, flags and REAL, and (for ``-march=native``) the machine and its CPU."""
    try:
        cpu = [line for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines()
               if line.startswith(("model name", "flags"))]
    except OSError:
        cpu = []
    key = digest(SOURCE.read_bytes(), *(h.read_bytes() for h in HEADERS), cc, *flags, real,
                 platform.platform(), platform.processor(), *cpu)
    return f"epoch-{real}-{key}.so"


class BrokenLibraryError(RuntimeError):
    """A compiled loop that cannot be loaded, or whose structs or enums are not those its Python
    caller passes: calling it would put arguments in the wrong places."""


class LoopLibrary(ctypes.CDLL):
    """The compiled loop as loaded, with what ``_loaded`` found out: the flags it was built with,
    its argument structs, its tables of names."""

    flags: tuple[str, ...]
    args_type: type[ctypes.Structure]
    eval_args_type: type[ctypes.Structure]
    enums: dict[str, dict[str, int]]


def _built(real: str, c_real: type) -> LoopLibrary:
    """The loop with REAL = ``real``, loaded and checked: the cached library, else ``epoch.c``
    compiled for this CPU if the compiler can, else portably (``cached`` keeps only one that
    passed ``_loaded``)."""
    cc = compiler()
    if cc is None:
        raise OSError("no C compiler found (install gcc, or set $CC)")
    failure, accepted = "", []
    for flags in FLAG_SETS:
        # the library that passed is the one used: loaded again from its cached name, a broken
        # one loaded there before would be found instead (the loader knows it by that name)
        def check(path: Path, flags: tuple[str, ...] = flags) -> None:
            accepted.append(_loaded(path, flags, c_real))

        try:
            cached(library_name(cc, flags, real), functools.partial(
                compile_c, cc, [*flags, f"-DREAL={real}"], SOURCE), check)
            return accepted[-1]
        except OSError as error:
            failure = str(error)
    raise OSError(f"{cc} failed: {failure}")


def _loaded(path: Path, flags: tuple[str, ...], c_real: type) -> LoopLibrary:
    """The library at ``path``, loaded, its structs and enums checked against the Python
    caller's, its functions typed; ``BrokenLibraryError`` if any of that fails."""
    try:
        lib = LoopLibrary(str(path))
    except OSError as error:
        raise BrokenLibraryError(f"the library {path.name} cannot be loaded ({error})") from None
    text = SOURCE.read_text(encoding="utf-8")
    lib.flags = flags
    lib.args_type, lib.eval_args_type = (
        type(name, (ctypes.Structure,), {"_fields_": struct_fields(text, macro, c_real)})
        for name, macro in (("EpochArgs", "EPOCH_ARGS"), ("EvalArgs", "EVAL_ARGS")))
    try:
        _check_layout(lib)
        lib.enums = {kind: enum_names(lib, table) for kind, table in ENUMS.items()}
        lib.train_epoch.argtypes = [ctypes.POINTER(lib.args_type)]
        lib.evaluate.argtypes = [ctypes.POINTER(lib.eval_args_type)]
    except (AttributeError, ValueError) as error:  # a function or table it does not hold
        raise BrokenLibraryError(f"the library {path.name} is not the loop's: {error}"
                                 ) from None
    lib.train_epoch.restype = lib.evaluate.restype = ctypes.c_int
    # else called by another's number
    if lib.enums != (ours := tables(KINDS.read_text(encoding="utf-8"))):
        raise BrokenLibraryError(f"the library's names {lib.enums} are not kinds.h's {ours}")
    return lib


def compile_c(cc: str, flags: list[str], source: Path, target: Path) -> None:
    """``source`` compiled by ``cc`` with ``flags`` into the shared library ``target``, HEADERS'
    folder on its include path (wherever ``source`` is); an OSError with the compiler's last
    words if it fails."""
    done = subprocess.run([cc, *flags, f"-I{HEADER.parent}", "-shared", "-fPIC", "-o",
                           str(target), str(source), "-lm"], capture_output=True, text=True,
                          timeout=300)
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
    try:
        return _built(*REALS[dtype])
    except (OSError, subprocess.SubprocessError, BrokenLibraryError) as error:
        unavailable_reason = f"the native CPU loop could not be built: {error}"
        return None


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


def tables(text: str) -> dict[str, dict[str, int]]:
    """The tables of names (``ENUMS``) in the C ``text`` (kinds.h's), each name with its index,
    which is its enum value (``{"loss": {"mse": 0, …}, …}``)."""
    found = {}
    for kind, table in ENUMS.items():
        match = re.search(rf"\b{table}\[\] = \{{([^}}]*)\}}", text)
        if match is None:
            raise BrokenLibraryError(f"the C source has no table {table}")
        found[kind] = {name: value for value, name in
                       enumerate(re.findall(r'"(\w+)"', match.group(1)))}
    return found


def enum_names(lib: ctypes.CDLL, table: str) -> dict[str, int]:
    """The names of one of a library's enums (``HIDDEN_NAMES``, …) and their values."""
    first = ctypes.c_char_p.in_dll(lib, table)  # the table is an array of char *, 0 last
    entries = ctypes.cast(ctypes.addressof(first), ctypes.POINTER(ctypes.c_char_p))
    names: dict[str, int] = {}
    while (entry := entries[len(names)]) is not None:
        names[entry.decode()] = len(names)
    return names
