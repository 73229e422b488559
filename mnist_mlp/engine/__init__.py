"""The fast engine: K networks of one architecture trained at once by mini-batch SGD
(``Engine``), an epoch run by one of four backends (docs/engine.md). For the benchmark: each
compiled backend, None where it cannot run here, and how it is built."""

from .fused.device import describe as describe_fused_kernel
from .fused.device import kernel as fused_kernel
from .native import describe as describe_native_loop
from .native import library as native_library
from .stacked import Engine

__all__ = ["Engine", "describe_fused_kernel", "describe_native_loop", "fused_kernel",
           "native_library"]
