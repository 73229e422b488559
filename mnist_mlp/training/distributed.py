"""The textbook's step, data-parallel: one network's mini-batches split over the ranks.

(A sweep's networks are split otherwise, whole networks to each shard: ``launch``.)

``DataParallelTrainer``: the chapter's step descends the mean loss of a mini-batch, L = (1/m) Σᵢ
ℓᵢ, whose gradient is a sum over the samples: W ranks can each take a slice of every mini-batch
and sum their gradients. Each rank draws the same permutation of the training set (the project's
``epoch_order``, seeded alike), takes its slice of each mini-batch of m, and weighs its partial
sum by W/m; ``DistributedDataParallel`` averages the ranks' gradients (a sum over ranks, divided
by W), which gives exactly ∂L/∂θ of the whole mini-batch — the last, smaller one included. For a
network this small one process is faster (every step waits for an exchange between processes);
it is here to show the step split, and for larger models.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial

import torch
import torch.distributed as dist
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from ..data import DigitTensors, epoch_order
from ..errors import ConfigError
from ..textbook.losses import network_loss
from ..textbook.model import MLP, WeightedInput
from ..textbook.sgd import descend
from .config import TrainConfig
from .driver import Network, fit
from .evaluation import Evaluation, evaluate
from .launch import Launch
from .records import EpochRecord, RunStart, StepInfo, TrainResult
from .threads import cpu_threads, step_threads


def slice_of(batch: Tensor, launch: Launch) -> Tensor:
    """This rank's part of a mini-batch's indices (contiguous; a small batch may leave some
    ranks none)."""
    return batch.tensor_split(launch.world_size)[launch.rank]


def data_parallel_step(model: DistributedDataParallel, loss_fn: Callable[..., Tensor], x: Tensor,
                       y: Tensor, lr: float, batch: int, world_size: int) -> Tensor:
    """One SGD step of a mini-batch of ``batch`` samples, of which this rank holds x, y;
    ``model`` gives the weighted input z of the output layer, ``loss_fn(z, y, reduction)`` the
    loss (``network_loss``).

    L = (1/m) Σᵢ ℓᵢ over the whole mini-batch: this rank weighs its partial sum by W/m, DDP
    averages the ranks' gradients (÷ W), so every rank steps θ ← θ − η ∂L/∂θ with exactly the
    mini-batch's gradient. Returns this rank's W/m-weighted partial loss (their mean over the
    ranks is L).
    """
    partial = loss_fn(model(x), y, reduction="sum") * (world_size / batch)
    return descend(model, partial, lr)  # θ ← θ − η ∂L/∂θ, DDP averaging the gradients


class DataParallelTrainer:
    """The reference trainer's network, its mini-batches split over the ranks of a torchrun
    launch (``DistributedDataParallel``). Every rank holds the same weights after each step;
    rank 0 alone writes the run's folder."""

    name = "reference"
    stops_at_first_divergence = True
    logs_figures = True

    def __init__(self, networks: list[Network], train: DigitTensors, device: torch.device,
                 launch: Launch) -> None:
        (network,) = networks
        self.config, self.launch, self.shuffle = network.config, launch, network.shuffle
        self.model: MLP = network.model.to(device)
        self.description = f"reference loop, data-parallel over {launch.world_size} ranks"
        self.parallel = DistributedDataParallel(
            WeightedInput(self.model), device_ids=[device.index] if device.type == "cuda"
            else None)
        self.loss_fn = network_loss(self.config.loss, self.model.output_activation)
        self.train = train.with_target_vectors()

    def epoch(self, on_step: Callable[[Tensor], None]) -> Tensor:
        """One epoch: the same permutation on every rank, each rank its slice of each
        mini-batch; the mini-batch losses, summed over the ranks."""
        self.parallel.train()
        losses, m = [], self.config.batch_size
        order = epoch_order(len(self.train), self.shuffle)
        with cpu_threads(step_threads(m)):
            for batch in order.split(m):
                x, y = self.train[slice_of(batch, self.launch)]
                losses.append(data_parallel_step(self.parallel, self.loss_fn, x, y,
                                                 self.config.lr, len(batch),
                                                 self.launch.world_size))
                on_step(losses[-1])
        total = torch.stack(losses)
        dist.all_reduce(total)
        return (total / self.launch.world_size).unsqueeze(0).cpu()

    def evaluate(self, data: DigitTensors) -> list[Evaluation]:
        self.model.eval()
        return [evaluate(self.model, data, self.config.loss)]

    def models(self) -> list[MLP]:
        return [self.model]


def train_data_parallel(config: TrainConfig, launch: Launch,
                        on_epoch: Callable[[EpochRecord], None] | None = None,
                        on_step: Callable[[StepInfo], None] | None = None,
                        resume: str | os.PathLike | None = None,
                        on_start: Callable[[RunStart], None] | None = None) -> TrainResult:
    """``train``, each mini-batch split over the ranks of a torchrun ``launch`` (inside its
    ``process_group``). Every rank returns the same result; rank 0 alone writes the run folder,
    logs and checkpoints, and resumes from them like one process."""
    if config.batch_size < launch.world_size:
        raise ConfigError(f"mini-batches of {config.batch_size} cannot be split over "
                          f"{launch.world_size} ranks (each needs a share of every mini-batch); "
                          "use fewer ranks or a larger --batch-size")
    each_epoch = None if on_epoch is None else lambda _, records: on_epoch(records[0])
    (result,) = fit([config], partial(DataParallelTrainer, launch=launch), resume=resume,
                    on_epoch=each_epoch, on_step=on_step, launch=launch,
                    write_runs=launch.primary, on_start=on_start)
    return result
