"""How many CPU threads torch uses for the SGD steps (fewer, for small mini-batches)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

ONE_THREAD_BELOW = 30
"""Mini-batches smaller than this are trained on one CPU thread (``step_threads``)."""


def step_threads(batch_size: int) -> int | None:
    """The CPU threads for SGD steps on mini-batches of ``batch_size``: 1 below
    ``ONE_THREAD_BELOW``, else torch's setting (None).

    The operations of a mini-batch of 10 are too small to share among threads: waking and
    synchronising them costs more than the arithmetic they split. On the 2-core machine of
    README's benchmark one thread made epochs 10–12 % faster for m = 10, made no difference for
    m = 30, and was 15–45 % slower for m = 100 and 1000.
    """
    return 1 if batch_size < ONE_THREAD_BELOW else None


@contextmanager
def cpu_threads(threads: int | None) -> Iterator[None]:
    """Run the block with torch on ``threads`` CPU threads (None: unchanged), then restore."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
