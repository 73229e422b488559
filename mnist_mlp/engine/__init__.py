"""The fast engine: K networks of one architecture trained at once by mini-batch SGD, their
parameters stacked, each step the chapter's gradients (BP1)–(BP4) then the update (``Engine``),
an epoch run by a backend: ``TensorOps``, ``CudaGraphs``, ``NativeLoop`` (``native/``, C on the
CPU) or ``FusedKernel`` (``fused/``, one CUDA launch). The benchmark asks whether each compiled
backend can run here (``native_library(dtype)``, ``fused_kernel(cuda_index)``: None where not)
and how it is built (``describe_native_loop()``, ``describe_fused_kernel(cuda_index)``).
The design: docs/engine.md."""

from .fused.device import describe as describe_fused_kernel
from .fused.device import kernel as fused_kernel
from .native import describe as describe_native_loop
from .native import library as native_library
from .stacked import Engine

__all__ = ["Engine", "describe_fused_kernel", "describe_native_loop", "fused_kernel",
           "native_library"]
