"""epoch.cu on a GPU, compiled by NVRTC into the loop's private cache and launched through the
CUDA driver API (``cuda.bindings``); else ``kernel`` returns None and ``unavailable_reason`` says
why. docs/engine.md ("The fused CUDA kernel")."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import torch

from ..native import build
from . import source
from .source import MAX_THREADS, SOURCE, Args

unavailable_reason: str | None = None  # why ``kernel`` returned None


class KernelError(RuntimeError):
    """A call of NVRTC or of the CUDA driver failed."""


def _call(function: Callable[..., tuple], *args: Any) -> Any:
    """``function(*args)``, a call of cuda.bindings: the value(s) it returned after its status,
    or a KernelError naming it."""
    status, *values = function(*args)
    if int(status) != 0:
        raise KernelError(f"{function.__name__} failed: {getattr(status, 'name', status)}")
    return values[0] if len(values) == 1 else tuple(values)


def cubin(arch: int) -> bytes:
    """epoch.cu compiled for ``sm_{arch}`` (90 for an H100 or H200): from the cache, or by NVRTC
    into it."""
    from cuda.bindings import nvrtc

    major, minor = _call(nvrtc.nvrtcVersion)
    if arch not in _call(nvrtc.nvrtcGetSupportedArchs):
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
    program = _call(nvrtc.nvrtcCreateProgram, main, SOURCE.name.encode(), len(headers),
                    list(headers.values()), [name.encode() for name in headers])
    try:
        (status,) = nvrtc.nvrtcCompileProgram(program, len(options), options)
        if int(status) != 0:
            log = b" " * _call(nvrtc.nvrtcGetProgramLogSize, program)
            _call(nvrtc.nvrtcGetProgramLog, program, log)
            errors = [line.strip() for line in log.decode(errors="replace").splitlines()
                      if "error" in line]  # the first, and the count at the end
            raise KernelError("NVRTC could not compile epoch.cu: "
                              + "; ".join(dict.fromkeys(errors[:1] + errors[-1:]))[:500])
        image = b" " * _call(nvrtc.nvrtcGetCUBINSize, program)
        _call(nvrtc.nvrtcGetCUBIN, program, image)  # written in place
        return image
    finally:
        nvrtc.nvrtcDestroyProgram(program)


class DeviceKernel:
    """The kernel loaded into the primary context of CUDA device ``index`` (PyTorch's)."""

    def __init__(self, index: int) -> None:
        from cuda.bindings import driver

        self.driver, self.index = driver, index
        _call(driver.cuInit, 0)
        device = _call(driver.cuDeviceGet, index)
        major, minor = torch.cuda.get_device_capability(index)
        self.arch = 10 * major + minor
        image = cubin(self.arch)
        self.context = _call(driver.cuDevicePrimaryCtxRetain, device)
        attribute, limit = driver.CUfunction_attribute, driver.CUdevice_attribute
        with self.current():
            module = _call(driver.cuModuleLoadData, image)
            self.function = _call(driver.cuModuleGetFunction, module, b"train_epochs")
            self.layout_function = _call(driver.cuModuleGetFunction, module, b"args_layout")
            optin = _call(driver.cuDeviceGetAttribute,
                          limit.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, device)
            static = _call(driver.cuFuncGetAttribute,
                           attribute.CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, self.function)
            self.max_shared_bytes = optin - static
            _call(driver.cuFuncSetAttribute, self.function,  # the opt-in beyond 48 KB
                  attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, self.max_shared_bytes)
            self.max_threads = min(MAX_THREADS, _call(
                driver.cuFuncGetAttribute, attribute.CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK,
                self.function))
        out = torch.full((len(Args._fields_) + 1,), -1, dtype=torch.int64,
                         device=torch.device("cuda", index))
        self._run(self.layout_function, 1, 1, 0, ctypes.c_void_p(out.data_ptr()))
        source.check_layout(out.tolist(), f"device (sm_{self.arch})")

    @contextlib.contextmanager
    def current(self) -> Iterator[None]:
        """The device's primary context made current for the driver calls, and the caller's
        restored after them."""
        _call(self.driver.cuCtxPushCurrent, self.context)
        try:
            yield
        finally:
            _call(self.driver.cuCtxPopCurrent)

    def _run(self, function: Any, blocks: int, threads: int, shared_bytes: int,
             argument: ctypes.Structure | ctypes.c_void_p) -> None:
        """Launch ``function``, whose one parameter is ``argument``, on the current stream."""
        parameters = (ctypes.c_void_p * 1)(ctypes.addressof(argument))
        stream = self.driver.CUstream(torch.cuda.current_stream(self.index).cuda_stream)
        with self.current():
            _call(self.driver.cuLaunchKernel, function, blocks, 1, 1, threads, 1, 1,
                  shared_bytes, stream, ctypes.addressof(parameters), 0)

    def launch(self, args: Args, blocks: int, threads: int, shared_bytes: int) -> None:
        """See ``Launcher.launch``."""
        self._run(self.function, blocks, threads, shared_bytes, args)

    def describe(self) -> str:
        from cuda.bindings import nvrtc

        major, minor = _call(nvrtc.nvrtcVersion)
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
