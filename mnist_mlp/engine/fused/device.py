"""epoch.cu on a GPU: compiled at first use by NVRTC for the device's compute capability, kept
in the private cache of the native loop (``native.build.cached``: only a folder and a file that
are this user's alone), loaded and launched through the CUDA driver API on PyTorch's current
stream, with the data pointers of PyTorch's tensors.

Both come from ``cuda.bindings`` (``cuda.bindings.nvrtc``, ``cuda.bindings.driver``), which
PyTorch's CUDA wheels install: no CUDA toolkit is needed. Where it is missing, or NVRTC cannot
compile for the device, or the module does not load, ``kernel`` returns None and
``unavailable_reason`` says why. ``MNIST_MLP_FUSED=0`` turns the kernel off.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib
import os
from collections.abc import Iterator
from typing import Any

import torch

from ..native import build
from . import source
from .source import MAX_THREADS, SOURCE, Args

unavailable_reason: str | None = None
"""Why ``kernel`` returned None, or None."""


class KernelError(RuntimeError):
    """A call of NVRTC or of the CUDA driver failed."""


def _ok(result: tuple, what: str) -> Any:
    """The value(s) a cuda.bindings call returned after its status, or a KernelError."""
    status, *values = result
    if int(status) != 0:
        raise KernelError(f"{what} failed: {getattr(status, 'name', status)}")
    return values[0] if len(values) == 1 else tuple(values)


def cubin(arch: int) -> bytes:
    """epoch.cu compiled for ``sm_{arch}`` (90 for an H100 or H200): from the cache, or by
    NVRTC into it."""
    from cuda.bindings import nvrtc

    major, minor = _ok(nvrtc.nvrtcVersion(), "nvrtcVersion")
    known = _ok(nvrtc.nvrtcGetSupportedArchs(), "nvrtcGetSupportedArchs")
    if arch not in known:
        raise KernelError(f"NVRTC {major}.{minor} cannot compile for sm_{arch}")
    options = [f"--gpu-architecture=sm_{arch}".encode()]
    name = f"fused-epoch-sm_{arch}-{source.digest(*options, f'nvrtc {major}.{minor}')}.cubin"
    return build.cached(name, lambda path: path.write_bytes(_compile(options))).read_bytes()


def _compile(options: list[bytes]) -> bytes:
    """NVRTC's CUBIN of epoch.cu (its headers handed over by name), or a KernelError with the
    end of NVRTC's log."""
    from cuda.bindings import nvrtc

    headers = source.texts()
    main = headers.pop(SOURCE.name)
    program = _ok(nvrtc.nvrtcCreateProgram(main, SOURCE.name.encode(), len(headers),
                                           list(headers.values()),
                                           [name.encode() for name in headers]),
                  "nvrtcCreateProgram")
    try:
        (status,) = nvrtc.nvrtcCompileProgram(program, len(options), options)
        if int(status) != 0:
            log = b" " * _ok(nvrtc.nvrtcGetProgramLogSize(program), "nvrtcGetProgramLogSize")
            _ok(nvrtc.nvrtcGetProgramLog(program, log), "nvrtcGetProgramLog")
            errors = [line.strip() for line in log.decode(errors="replace").splitlines()
                      if "error" in line]  # the first, and the count at the end
            raise KernelError("NVRTC could not compile epoch.cu: "
                              + "; ".join(dict.fromkeys(errors[:1] + errors[-1:]))[:500])
        image = b" " * _ok(nvrtc.nvrtcGetCUBINSize(program), "nvrtcGetCUBINSize")
        _ok(nvrtc.nvrtcGetCUBIN(program, image), "nvrtcGetCUBIN")  # written in place
        return image
    finally:
        nvrtc.nvrtcDestroyProgram(program)


class DeviceKernel:
    """The kernel loaded into the primary context of CUDA device ``index`` (PyTorch's)."""

    def __init__(self, index: int) -> None:
        from cuda.bindings import driver

        self.driver, self.index = driver, index
        _ok(driver.cuInit(0), "cuInit")
        device = _ok(driver.cuDeviceGet(index), "cuDeviceGet")
        major, minor = torch.cuda.get_device_capability(index)
        self.arch = 10 * major + minor
        image = cubin(self.arch)
        self.context = _ok(driver.cuDevicePrimaryCtxRetain(device), "cuDevicePrimaryCtxRetain")
        attribute, limit = driver.CUfunction_attribute, driver.CUdevice_attribute
        with self.current():
            module = _ok(driver.cuModuleLoadData(image), "cuModuleLoadData")
            self.function = _ok(driver.cuModuleGetFunction(module, b"train_epochs"),
                                "cuModuleGetFunction")
            self.layout_function = _ok(driver.cuModuleGetFunction(module, b"args_layout"),
                                       "cuModuleGetFunction")
            optin = _ok(driver.cuDeviceGetAttribute(
                limit.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, device),
                "cuDeviceGetAttribute")
            static = _ok(driver.cuFuncGetAttribute(
                attribute.CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, self.function), "cuFuncGetAttribute")
            self.max_shared_bytes = optin - static
            _ok(driver.cuFuncSetAttribute(
                self.function, attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                self.max_shared_bytes), "cuFuncSetAttribute")  # the opt-in beyond 48 KB
            self.max_threads = min(MAX_THREADS, _ok(driver.cuFuncGetAttribute(
                attribute.CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, self.function),
                "cuFuncGetAttribute"))
        self._check_layout()

    @contextlib.contextmanager
    def current(self) -> Iterator[None]:
        """The device's primary context made current for the driver calls, and the caller's
        restored after them."""
        _ok(self.driver.cuCtxPushCurrent(self.context), "cuCtxPushCurrent")
        try:
            yield
        finally:
            _ok(self.driver.cuCtxPopCurrent(), "cuCtxPopCurrent")

    def _run(self, function: Any, blocks: int, threads: int, shared_bytes: int,
             argument: ctypes.Structure | ctypes.c_void_p) -> None:
        """Launch ``function``, whose one parameter is ``argument``, on the current stream."""
        parameters = (ctypes.c_void_p * 1)(ctypes.addressof(argument))
        stream = self.driver.CUstream(torch.cuda.current_stream(self.index).cuda_stream)
        with self.current():
            _ok(self.driver.cuLaunchKernel(function, blocks, 1, 1, threads, 1, 1, shared_bytes,
                                           stream, ctypes.addressof(parameters), 0),
                "cuLaunchKernel")

    def launch(self, args: Args, blocks: int, threads: int, shared_bytes: int) -> None:
        """See ``Launcher.launch``."""
        self._run(self.function, blocks, threads, shared_bytes, args)

    def _check_layout(self) -> None:
        """Refuse a module whose argument struct is laid out otherwise than ``Args``."""
        out = torch.full((len(Args._fields_) + 1,), -1, dtype=torch.int64,
                         device=torch.device("cuda", self.index))
        self._run(self.layout_function, 1, 1, 0, ctypes.c_void_p(out.data_ptr()))
        source.check_layout(out.tolist(), f"device (sm_{self.arch})")

    def describe(self) -> str:
        from cuda.bindings import nvrtc

        major, minor = _ok(nvrtc.nvrtcVersion(), "nvrtcVersion")
        return (f"NVRTC {major}.{minor}, sm_{self.arch}, {self.max_shared_bytes // 1024} KB "
                f"of shared memory and up to {self.max_threads} threads a block")


@functools.cache
def kernel(index: int) -> DeviceKernel | None:
    """The kernel for CUDA device ``index``, or None (see ``unavailable_reason``)."""
    global unavailable_reason
    if os.environ.get("MNIST_MLP_FUSED", "1") == "0":
        unavailable_reason = "the fused CUDA kernel is turned off by MNIST_MLP_FUSED=0"
        return None
    try:
        for module in ("cuda.bindings.driver", "cuda.bindings.nvrtc"):
            importlib.import_module(module)
    except ImportError:
        unavailable_reason = ("the fused CUDA kernel needs cuda.bindings, which is not "
                              "installed (pip install cuda-bindings)")
        return None
    try:
        return DeviceKernel(index)
    except (OSError, RuntimeError) as error:  # KernelError, a missing NVRTC or driver library
        unavailable_reason = f"the fused CUDA kernel could not be built: {error}"
        return None


def describe(index: int = 0) -> str:
    """What the kernel is built with on CUDA device ``index``, or why there is none."""
    loaded = kernel(index)
    return loaded.describe() if loaded else (unavailable_reason or "unavailable")
