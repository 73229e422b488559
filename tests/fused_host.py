"""The engine's fused kernel (``mnist_mlp/engine/fused/epoch.cu``) built for the host, so that a
CPU can test its logic: the same source compiled by the C compiler, where each phase of a block
is a loop over its threads (in order, or in reverse to expose a phase whose threads depend on
each other) and the blocks run one after another. Built and loaded as the native loop is
(``native.build``: a private cache). Test support: ``from fused_host import …``."""

from __future__ import annotations

import ctypes
import functools

from mnist_mlp.engine.fused import source
from mnist_mlp.engine.fused.source import MAX_THREADS, SOURCE, Args
from mnist_mlp.engine.native import build

H100_SHARED_BYTES = 227 * 1024
"""The opt-in shared memory of a block on an H100 or H200, the host build's default limit."""


@functools.cache
def library() -> ctypes.CDLL:
    """The host build of epoch.cu, its layout checked; an OSError where it cannot be built."""
    cc = build.compiler()
    if cc is None:
        raise OSError("no C compiler found (install gcc, or set $CC)")
    flags = ["-O2", "-x", "c"]  # epoch.cu is C as well as CUDA C++
    name = f"fused-host-{source.digest(cc, *flags)}.so"
    lib = ctypes.CDLL(str(build.cached(name, functools.partial(build.compile_c, cc, flags,
                                                              SOURCE))))
    lib.run_blocks.argtypes = [ctypes.POINTER(Args), ctypes.c_int, ctypes.c_int]
    lib.run_blocks.restype = ctypes.c_int
    lib.shared_floats.argtypes = [ctypes.c_int64, ctypes.c_int64, ctypes.c_int]
    lib.shared_floats.restype = ctypes.c_int64
    out = (ctypes.c_int64 * (len(Args._fields_) + 1))()
    lib.args_layout(out)
    source.check_layout(list(out), "host")
    lib.enums = {kind: build.enum_names(lib, table) for kind, table in build.ENUMS.items()}
    return lib


class HostKernel:
    """A launcher (``backend.Launcher``) of the host build: ``threads`` threads a block at most,
    in reverse order if ``reverse``; W¹ in "shared memory" when ``max_shared_bytes`` holds it."""

    def __init__(self, threads: int = MAX_THREADS, reverse: bool = False,
                 max_shared_bytes: int = H100_SHARED_BYTES) -> None:
        self.lib = library()
        self.max_threads, self.reverse, self.max_shared_bytes = threads, reverse, max_shared_bytes

    def launch(self, args: Args, blocks: int, threads: int, shared_bytes: int) -> None:
        """See ``Launcher.launch``: the blocks (``args.k`` of them) one after another."""
        if self.lib.run_blocks(ctypes.byref(args), threads, int(self.reverse)) != 0:
            raise MemoryError("the host build of the fused kernel could not run its blocks")
