"""The engine's fused GPU path, each epoch of all K networks one launch of ``epoch.cu``:
``source``, what Python knows of it; ``backend``, its arguments (``FusedKernel``); ``device``,
NVRTC and the launch. docs/engine.md ("The fused CUDA kernel")."""

from . import device, source
from .backend import FusedKernel, uncovered

__all__ = ["FusedKernel", "device", "source", "uncovered"]
