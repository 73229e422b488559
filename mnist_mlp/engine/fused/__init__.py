"""The engine's fused GPU path: each epoch of all K networks in one kernel launch.

``epoch.cu`` (with ``functions.h`` and ``phases.h``) is the kernel: thread block k trains
network k through the whole epoch, W¹ kept on chip, the digits read as sparse rows — the
arithmetic of the CPU's compiled loop (``native/epoch.c``), in float32. ``backend`` makes and
checks its arguments (``FusedKernel``, the engine's backend "cuda-fused"); ``device`` compiles
it with NVRTC and launches it through the CUDA driver (``cuda.bindings``). The tests build the
same source for the CPU (tests/fused_host.py) and compare it with the engine's tensor
operations.
"""

from . import device, source
from .backend import FusedKernel, uncovered

__all__ = ["FusedKernel", "device", "source", "uncovered"]
