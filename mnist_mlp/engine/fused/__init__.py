"""The engine's fused GPU path: each epoch of all K networks in one launch of ``epoch.cu`` (the
CPU loop's arithmetic in float32, a thread block per network). ``source``: what Python knows of
it; ``backend``: its arguments (``FusedKernel``); ``device``: NVRTC and the launch.
More: docs/engine.md ("The fused CUDA kernel")."""

from . import device, source
from .backend import FusedKernel, uncovered

__all__ = ["FusedKernel", "device", "source", "uncovered"]
