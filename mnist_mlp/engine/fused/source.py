"""The kernel's source files and what Python must know of them: the argument struct, the enums'
names, the shared memory a block needs, and the thread count of a launch."""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

from ...textbook.model import INPUT_SIZE, NUM_CLASSES
from ..native import build

FOLDER = Path(__file__).parent
SOURCE = FOLDER / "epoch.cu"
HEADERS = (FOLDER / "phases.h", *build.HEADERS)  # what epoch.cu includes (NVRTC: by name)
MAX_THREADS = 256  # epoch.cu's MAX_THREADS: the most threads a block is launched with
FLOAT = 4  # bytes of a float32, the kernel's only real type


def texts() -> dict[str, bytes]:
    """epoch.cu and its headers, by name."""
    return {path.name: path.read_bytes() for path in (SOURCE, *HEADERS)}


def digest(*parts: bytes | str) -> str:
    """A short digest of the sources and ``parts`` (compiler, flags, …): a cached build's name."""
    return build.digest(*texts().values(), *parts)


@functools.cache
def enums() -> dict[str, dict[str, int]]:
    """epoch.cu's enums by name (``{"loss": {"mse": 0, …}, …}``), read from the tables of names
    of kinds.h, which it includes: a CUDA module has no host tables (a test compares the host
    build's with these)."""
    return build.tables(build.KINDS.read_text(encoding="utf-8"))


class Args(ctypes.Structure):
    """epoch.cu's ``struct fused_args``, its fields read from its list ``FUSED_ARGS`` (each build
    reports its offsets: ``check_layout``)."""

    _fields_ = build.struct_fields(SOURCE.read_text(encoding="utf-8"), "FUSED_ARGS")


def check_layout(reported: list[int], where: str) -> None:
    """Refuse a build whose struct is laid out otherwise than ``Args`` (its fields' offsets, then
    its size): an argument would land in the wrong field."""
    ours = [getattr(Args, name).offset for name, _ in Args._fields_] + [ctypes.sizeof(Args)]
    if list(reported) != ours:
        raise RuntimeError(f"epoch.cu's struct fused_args on the {where} (offsets and size "
                           f"{list(reported)}) does not match its Python caller ({ours})")


def shared_floats(hidden: int, batch_size: int, w1_shared: bool) -> int:
    """Floats of shared memory a block needs: epoch.cu's ``carve`` (and host ``shared_floats``)
    — W¹ pixel-major when it is there, b¹, W², b², then a¹, δ¹, F, δ² and ℓ of each sample."""
    h, m = hidden, batch_size
    return ((INPUT_SIZE * h if w1_shared else 0) + h + NUM_CLASSES * h + NUM_CLASSES
            + 2 * m * h + 2 * m * NUM_CLASSES + m)


def threads_for(hidden: int, batch_size: int, most: int) -> int:
    """Threads of a block: one per item of the widest phase of a step (a sample's hidden unit),
    rounded up to whole warps of 32, at least 4 warps, at most ``most``."""
    items = -(-hidden * batch_size // 32) * 32
    return max(1, min(most, max(128, items)))
