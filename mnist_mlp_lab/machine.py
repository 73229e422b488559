"""What a measurement was made on, recorded beside every reported number."""

from __future__ import annotations

import os
import platform
from typing import Any

import torch


def machine(device: torch.device | None = None) -> dict[str, Any]:
    """CPU model, cores, torch threads, torch and Python versions, the device used (if given)
    and the GPU's name when one is used (or, without ``device``, present)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    result: dict[str, Any] = {"cpu": cpu, "cores": os.cpu_count(),
                              "torch_threads": torch.get_num_threads(),
                              "torch": torch.__version__, "python": platform.python_version()}
    if device is not None:
        result["device"] = str(device)
    if device is not None and device.type == "cuda":
        result["gpu"] = torch.cuda.get_device_name(device)
    elif device is None and torch.cuda.is_available():
        result["gpu"] = torch.cuda.get_device_name()
    return result
