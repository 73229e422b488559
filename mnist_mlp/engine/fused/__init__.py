"""The engine's fused GPU path: each epoch of all K networks in one kernel launch.

``epoch.cu`` (with ``functions.h``, ``phases.h``) is the kernel, the CPU loop's arithmetic in
float32, one thread block per network; ``source`` is what Python knows of it, ``backend`` makes
and checks its arguments (``FusedKernel``), ``device`` compiles it with NVRTC and launches it.
More: docs/engine.md ("The fused CUDA kernel").
"""

from . import device, source
from .backend import FusedKernel, uncovered

__all__ = ["FusedKernel", "device", "source", "uncovered"]
