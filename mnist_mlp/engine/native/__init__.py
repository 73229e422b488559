"""The fast engine's CPU loop: one epoch of SGD for one network as a single call into C.

On a CPU, the engine's step (``mnist_mlp.engine.stacked.Engine.step``) is a dozen tensor
operations on a mini-batch of 10, and each costs a few microseconds of dispatch whatever its
size: the loop is bound by overhead, not arithmetic. ``epoch.c`` (beside this file) is the same
arithmetic — forward pass, (BP1)–(BP4), the SGD update — as one C function per epoch, reading
each image as its list of non-zero pixels.

It is compiled on first use with the system's C compiler (``$CC``, else ``cc``) into a cache
folder (``$MNIST_MLP_CACHE``, else ``~/.cache/mnist-mlp``), once per source, flags and CPU, and
loaded with ``ctypes`` — only from a folder, and only a file, that belong to this user and that
nobody else can write (``_cache_dir``). Where no compiler works, ``library`` returns None and
says why in ``unavailable_reason``, and the engine falls back to its tensor operations.
``MNIST_MLP_NATIVE=0`` turns the loop off.

Networks are independent, so K of them run on up to ``torch.get_num_threads()`` threads
(``ctypes`` releases the GIL during the call).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import Tensor

from ...textbook.losses import F_FLOOR
from ...textbook.model import INPUT_SIZE, NUM_CLASSES

if TYPE_CHECKING:
    from ..stacked import Engine

SOURCE = Path(__file__).with_name("epoch.c")
FLAG_SETS = (("-O3", "-march=native"), ("-O3",))
"""Optimisation flags, tried in turn: for this CPU, and portable where ``-march=native`` fails."""
REALS = {torch.float32: ("float", ctypes.c_float), torch.float64: ("double", ctypes.c_double)}
ENUMS = {"hidden": "HIDDEN_NAMES", "output": "OUTPUT_NAMES", "loss": "LOSS_NAMES"}
"""epoch.c's tables of names for its enums: a name's value is its index there."""

unavailable_reason: str | None = None
"""Why ``library`` returned None (no compiler, a failed build, turned off), or None."""


class SparseRows(NamedTuple):
    """Images (N, 784) as lists of non-zero pixels (compressed sparse rows): image i has
    pixels ``pixel[row_start[i]:row_start[i + 1]]`` with values ``value[…]`` (the same slice)."""

    row_start: Tensor  # (N + 1,) int64
    pixel: Tensor  # (nnz,) int32
    value: Tensor  # (nnz,) the images' dtype

    @classmethod
    def of(cls, images: Tensor) -> SparseRows:
        nonzero = images != 0
        row_start = torch.zeros(images.shape[0] + 1, dtype=torch.int64)
        torch.cumsum(nonzero.sum(dim=1), dim=0, out=row_start[1:])
        pixel = nonzero.nonzero()[:, 1].to(torch.int32)
        return cls(row_start, pixel.contiguous(), images[nonzero].contiguous())


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
        warnings.warn(f"{reason}: the native CPU loop is built in the private folder "
                      f"{_private} instead", stacklevel=2)
    return _private


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


def _build(real: str) -> tuple[Path, tuple[str, ...]]:
    """Compile ``epoch.c`` with REAL = ``real``, for this CPU if the compiler can, else
    portably; once: later calls find the cached library. Returns it and its flags."""
    cc = compiler()
    if cc is None:
        raise OSError("no C compiler found (install gcc, or set $CC)")
    folder, failure = _cache_dir(), ""
    for flags in FLAG_SETS:
        target = folder / library_name(cc, flags, real)
        if target.exists() and (why := _not_private(target)):
            folder = _private_folder(f"the cached library {target} {why}")
            target = folder / target.name
        if target.exists():
            return target, flags
        fd, temporary = tempfile.mkstemp(suffix=".so", dir=folder)
        os.close(fd)
        try:
            done = subprocess.run([cc, *flags, "-shared", "-fPIC", f"-DREAL={real}", "-o",
                                   temporary, str(SOURCE), "-lm"],
                                  capture_output=True, text=True, timeout=300)
            if done.returncode == 0:
                os.replace(temporary, target)  # atomic: a concurrent build finds a whole file
                return target, flags
            failure = done.stderr.strip()[-500:] or f"exit status {done.returncode}"
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
    raise OSError(f"{cc} failed: {failure}")


def describe() -> str:
    """The compiler and flags the loop is built with, or why there is no loop."""
    lib = library(torch.float32)
    if lib is None:
        return unavailable_reason or "unavailable"
    try:
        version = subprocess.run([compiler(), "--version"], capture_output=True, text=True,
                                 timeout=30).stdout.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        version = compiler()
    return f"{version} {' '.join(lib.flags)}"


@functools.cache
def library(dtype: torch.dtype) -> ctypes.CDLL | None:
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
        path, flags = _build(real)
        lib = ctypes.CDLL(str(path))
        lib.flags = flags
    except (OSError, subprocess.SubprocessError) as error:
        unavailable_reason = f"the native CPU loop could not be built: {error}"
        return None
    lib.args_type = _args_type(c_real)
    _check_layout(lib)
    lib.train_epoch.argtypes = [ctypes.POINTER(lib.args_type)]
    lib.train_epoch.restype = ctypes.c_int
    lib.enums = {kind: enum_names(lib, table) for kind, table in ENUMS.items()}
    return lib


def _args_type(c_real: type) -> type[ctypes.Structure]:
    """``struct epoch_args`` of epoch.c, for REAL = ``c_real``: the same fields in the same
    order (``_check_layout`` compares the offsets with the compiled ones)."""
    p, i64, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32

    class EpochArgs(ctypes.Structure):
        _fields_ = [("n", i64), ("l", i64), ("m", i64), ("row_start", p), ("pixel", p),
                    ("value", p), ("targets", p), ("order", p), ("lr", c_real),
                    ("hidden", i32), ("output", i32), ("loss", i32), ("matched", i32),
                    ("floor", c_real), ("W1", p), ("b1", p), ("W2", p), ("b2", p),
                    ("outputs", p)]

    return EpochArgs


def _check_layout(lib: ctypes.CDLL) -> None:
    """Refuse a library whose ``struct epoch_args`` is not laid out as ``lib.args_type``: an
    argument would land in the wrong field."""
    fields = lib.args_type._fields_
    offsets = (ctypes.c_int64 * len(fields))()
    lib.epoch_args_layout.restype = ctypes.c_int64
    size = lib.epoch_args_layout(offsets, ctypes.c_int64(len(fields)))
    ours = [getattr(lib.args_type, name).offset for name, _ in fields]
    if list(offsets) != ours or size != ctypes.sizeof(lib.args_type):
        raise RuntimeError(f"epoch.c's struct epoch_args (offsets {list(offsets)}, size {size}) "
                           f"does not match its Python caller (offsets {ours})")


def enum_names(lib: ctypes.CDLL, table: str) -> dict[str, int]:
    """The names of one of epoch.c's enums (``HIDDEN_NAMES``, …) and their values."""
    first = ctypes.c_char_p.in_dll(lib, table)  # the table is an array of char *, 0 last
    entries, names = ctypes.cast(ctypes.addressof(first), ctypes.POINTER(ctypes.c_char_p)), {}
    while entries[len(names)] is not None:
        names[entries[len(names)].decode()] = len(names)
    return names


class Functions(NamedTuple):
    """What the loop computes: the hidden and output activations and the loss (by name),
    whether δ² = F − y (a matched output and loss), and the floor under ln's argument."""

    hidden: str
    output: str
    loss: str
    matched: bool
    floor: float


class Stacked(NamedTuple):
    """The parameters of K networks, stacked: W1 (K, l, 784), b1 (K, 1, l), W2 (K, 10, l),
    b2 (K, 1, 10)."""

    W1: Tensor
    b1: Tensor
    W2: Tensor
    b2: Tensor


def _check(rows: SparseRows, targets: Tensor, order: Tensor, W1: Tensor, b1: Tensor,
           W2: Tensor, b2: Tensor, outputs: Tensor, k: int) -> None:
    """C trusts its pointers: refuse what does not fit before calling it."""
    real = rows.value.dtype
    hidden, n, images = W1.shape[-2], order.shape[-1], targets.shape[0]
    expected = {"row_start": (rows.row_start, torch.int64, (images + 1,)),
                "pixel": (rows.pixel, torch.int32, None),
                "order": (order, torch.int64, (k, n)),
                "targets": (targets, real, (images, NUM_CLASSES)),
                "W1": (W1, real, (k, hidden, INPUT_SIZE)), "b1": (b1, real, None),
                "W2": (W2, real, (k, NUM_CLASSES, hidden)), "b2": (b2, real, None),
                "outputs": (outputs, real, (k, n, NUM_CLASSES))}
    for name, (tensor, dtype, shape) in expected.items():
        if not (tensor.is_contiguous() and tensor.device.type == "cpu"
                and tensor.dtype == dtype and (shape is None or tuple(tensor.shape) == shape)):
            raise ValueError(f"the native loop got an unfit {name}: {tuple(tensor.shape)} "
                             f"{tensor.dtype} on {tensor.device}")
    if b1.numel() != k * hidden or b2.numel() != k * NUM_CLASSES or real not in REALS:
        raise ValueError("the native loop got unfit biases or an unsupported dtype")
    if n and not 0 <= int(order.min()) <= int(order.max()) < images:
        raise ValueError("the native loop got an order outside the images")


def train_epochs(lib: ctypes.CDLL, rows: SparseRows, targets: Tensor, order: Tensor,
                 batch_size: int, lrs: list[float], functions: Functions, params: Stacked,
                 outputs: Tensor) -> None:
    """One epoch of each of K networks, in place, on up to ``torch.get_num_threads()`` threads.

    Network k has parameters ``params.W1[k]`` (l, 784), ``b1[k]`` (l), ``W2[k]`` (10, l),
    ``b2[k]`` (10), all contiguous, learning rate ``lrs[k]``, visits the images in ``order[k]``
    and writes its output for each into ``outputs[k]`` (N, 10), in visit order.
    """
    k, n = len(lrs), order.shape[1]
    _check(rows, targets, order, *params, outputs, k)
    kinds = {kind: lib.enums[kind][getattr(functions, kind)] for kind in ENUMS}

    def at(t: Tensor, network: int) -> int:
        return t.data_ptr() + network * t.stride(0) * t.element_size()

    def one(network: int) -> None:
        args = lib.args_type(
            n=n, l=params.W1.shape[-2], m=batch_size, row_start=rows.row_start.data_ptr(),
            pixel=rows.pixel.data_ptr(), value=rows.value.data_ptr(),
            targets=targets.data_ptr(), order=at(order, network), lr=lrs[network], **kinds,
            matched=int(functions.matched), floor=functions.floor,
            **{name: at(t, network) for name, t in params._asdict().items()},
            outputs=at(outputs, network))
        if lib.train_epoch(ctypes.byref(args)) != 0:
            raise MemoryError("the native loop could not allocate its scratch memory")

    workers = min(k, torch.get_num_threads())
    if workers == 1:
        for network in range(k):
            one(network)
        return
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(k)))


class NativeLoop:
    """The engine's CPU backend: each network's epoch is one call of the compiled loop."""

    name = "native"

    def __init__(self, engine: Engine, lib: ctypes.CDLL) -> None:
        self.engine, self.lib = engine, lib
        self.rows: tuple[tuple[int, ...], SparseRows] | None = None

    def prepare(self, images: Tensor) -> None:
        """Read ``images`` as sparse rows, once for as long as they do not change."""
        key = (images.data_ptr(), images._version, *images.shape, *images.stride())
        if self.rows is None or self.rows[0] != key:
            self.rows = (key, SparseRows.of(images))

    def run(self, images: Tensor, targets: Tensor, order: Tensor, batch_size: int,
            outputs: Tensor) -> None:
        """See ``Backend.run``."""
        self.prepare(images)
        e = self.engine
        functions = Functions(e.config["activation"], e.config["output_activation"],
                              e.loss_name, e.matched, F_FLOOR)
        train_epochs(self.lib, self.rows[1], targets.contiguous(), order, batch_size,
                     e.lr_values, functions, Stacked(e.W1, e.b1, e.W2, e.b2), outputs)
