"""Mini-batches: one random order per epoch (``epoch_order``), cut into batches served by a
``DataLoader`` (``batches``), and how many there are (``steps_per_epoch``). Why: docs/data.md."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Sampler

from .digits import DigitTensors


def steps_per_epoch(n: int, batch_size: int) -> int:
    """The mini-batches of an epoch over ``n`` samples, one SGD step each: ⌈n / m⌉ (the last
    one smaller when m does not divide n). Everything that counts steps asks this function."""
    return -(-n // batch_size)


def epoch_order(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """One epoch's random order of ``n`` samples. Everything that shuffles draws it here, once
    an epoch, so that a network seeded alike sees the same mini-batches in either engine."""
    return torch.randperm(n, generator=generator)


class ShuffledBatches(Sampler[torch.Tensor]):
    """Index tensors of one epoch's mini-batches: ``epoch_order`` (or 0…n − 1 without
    ``shuffle``) cut into ``batch_size`` pieces, made on ``device``, the digits' device."""

    def __init__(self, n: int, batch_size: int, *, shuffle: bool = True,
                 generator: torch.Generator | None = None, drop_last: bool = False,
                 device: torch.device | str = "cpu") -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.n, self.batch_size, self.shuffle = n, batch_size, shuffle
        self.generator, self.drop_last, self.device = generator, drop_last, device

    def __iter__(self) -> Iterator[torch.Tensor]:
        order = epoch_order(self.n, self.generator) if self.shuffle else torch.arange(self.n)
        for batch in order.to(self.device).split(self.batch_size):
            if len(batch) == self.batch_size or not self.drop_last:
                yield batch

    def __len__(self) -> int:
        n, m = self.n, self.batch_size
        return n // m if self.drop_last else steps_per_epoch(n, m)


def batches(dataset: DigitTensors, batch_size: int, *, shuffle: bool = True,
            generator: torch.Generator | None = None, drop_last: bool = False,
            device: torch.device | str = "cpu") -> DataLoader:
    """A ``DataLoader`` of ``(images, labels)`` mini-batches of ``dataset``, each read with one
    tensor index, in a new order every epoch drawn from ``generator`` (the global RNG if None);
    the last one smaller unless ``drop_last``. ``device``: where the indices are made."""
    sampler = ShuffledBatches(len(dataset), batch_size, shuffle=shuffle, generator=generator,
                              drop_last=drop_last, device=device)
    # The loader draws a seed for worker processes at every pass; a private generator keeps
    # that draw from touching the shuffling generator or the global RNG.
    # (torch types collate_fn for automatic batching, given a list; with it off it gets a batch)
    return DataLoader(dataset, sampler=sampler, batch_size=None,
                      collate_fn=_as_is,  # type: ignore[arg-type]
                      generator=torch.Generator())


def _as_is(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch as the dataset returned it (the default would turn the tuple to a list)."""
    return batch
