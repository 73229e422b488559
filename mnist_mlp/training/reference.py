"""The reference trainer: the loop people read, one network, autograd, a ``DataLoader``.

    for each epoch:                      (the training set reshuffled)
        for each mini-batch (x, y) of m samples:
            L = (1/m) Σ ℓ(F(x), y)       (the chosen loss, mini-batch mean)
            θ ← θ − η ∂L/∂θ              (plain SGD: ``textbook.sgd.sgd_step``)

ℓ(F(x), y) is computed from the output layer's weighted input z, F = ψ(z)
(``textbook.losses.network_loss``): the same number, and for the cross-entropy (35) on a softmax
a gradient that float32 can hold.

``train_epoch`` is that loop, and nothing else: no logging, checkpoints or progress bars, which
the driver (``driver.py``) adds around it for this trainer and the fast engine alike. ``train``
is the public entry point: one network, trained by this loop under the driver.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn

from ..data import DigitTensors, batches
from ..textbook.losses import network_loss
from ..textbook.model import MLP, WeightedInput
from ..textbook.sgd import sgd_step
from .captured import CapturedStep
from .config import TrainConfig
from .driver import Network, fit
from .evaluation import Evaluation, evaluate
from .records import EpochRecord, RunStart, StepInfo, TrainResult
from .threads import cpu_threads, step_threads

Step = Callable[[nn.Module, Callable[..., Tensor], Tensor, Tensor, float], Tensor]
"""A step of SGD on one mini-batch, ``step(model, loss_fn, x, y, lr)`` → its loss before it."""


def step_for(device: torch.device, batch_size: int) -> Step:
    """How the loop takes its steps on ``device``: ``sgd_step``, or on CUDA the same step
    replayed from a CUDA graph for mini-batches of ``batch_size`` (``CapturedStep``)."""
    return CapturedStep(batch_size) if device.type == "cuda" else sgd_step


def train_epoch(model: nn.Module, loss_fn: Callable[..., Tensor],
                loader: Iterable[tuple[Tensor, Tensor]], lr: float,
                on_step: Callable[[Tensor], None] | None = None,
                threads: int | None = None, step: Step = sgd_step) -> Tensor:
    """One pass over the (reshuffled) training set, one SGD step per mini-batch, L =
    ``loss_fn(model(x), y)``; returns the mini-batch losses (steps,), each as it was before its
    step. The trainer passes the network up to its output layer's weighted input z
    (``WeightedInput``) and the loss computed from z (``network_loss``).

    ``threads``: CPU threads for torch during the pass (None: as they are; see
    ``step_threads``). ``step``: how a step is taken, ``sgd_step`` or, on a GPU, the same step
    replayed from a CUDA graph (``CapturedStep``)."""
    model.train()
    losses = []
    with cpu_threads(threads):
        for x, y in loader:
            losses.append(step(model, loss_fn, x, y, lr))
            if on_step is not None:
                on_step(losses[-1])
    return torch.stack(losses)


class ReferenceTrainer:
    """One network trained by ``train_epoch``: the trainer of ``train``.

    It stops at the first NaN (there is nothing else to train) and logs figures: histograms
    of the weights and of the last step's gradients, the hidden units' weights as images. On
    CUDA each step is replayed from a CUDA graph (``CapturedStep``), the digits on the device.
    """

    name = "reference"
    stops_at_first_divergence = True
    logs_figures = True

    def __init__(self, networks: list[Network], train: DigitTensors,
                 device: torch.device) -> None:
        if len(networks) != 1:
            raise ValueError("the reference trainer trains one network at a time")
        (network,) = networks
        self.config = network.config
        self.model = network.model.to(device)
        self.up_to_z = WeightedInput(self.model)  # the loss is taken of z, F = ψ(z)
        self.loss_fn = network_loss(self.config.loss, self.model.output_activation)
        self.loader = batches(train.with_target_vectors(), self.config.batch_size,
                              generator=network.shuffle, device=device)
        self.step = step_for(device, self.config.batch_size)
        self.description = ("reference loop, each step one CUDA graph"
                            if isinstance(self.step, CapturedStep) else "reference loop")

    def epoch(self, on_step: Callable[[Tensor], None]) -> Tensor:
        losses = train_epoch(self.up_to_z, self.loss_fn, self.loader, self.config.lr, on_step,
                             step_threads(self.config.batch_size), self.step)
        return losses.unsqueeze(0).cpu()

    def evaluate(self, data: DigitTensors) -> list[Evaluation]:
        self.model.eval()
        return [evaluate(self.model, data, self.config.loss)]

    def models(self) -> list[MLP]:
        return [self.model]


def train(config: TrainConfig, model: MLP | None = None,
          on_epoch: Callable[[EpochRecord], None] | None = None,
          on_step: Callable[[StepInfo], None] | None = None,
          resume: str | os.PathLike | None = None,
          on_start: Callable[[RunStart], None] | None = None) -> TrainResult:
    """Train the network described by ``config`` (or continue ``model``) on MNIST with the
    reference loop.

    The result's history has one ``EpochRecord`` per epoch; ``on_epoch`` is called with each
    record as it is made, ``on_step`` with a ``StepInfo`` after each mini-batch.

    ``resume``: a run folder (its ``last.pt``) or checkpoint file to continue from, in the
    checkpoint's folder, up to ``config.epochs``; ``config`` must be the run's own (see
    ``resume_config``) except for ``epochs``, ``device``, ``data_dir``. Ctrl-C raises
    ``TrainingInterrupted``, naming the checkpoint to resume from. ``on_start``: as for
    ``fit``.
    """
    each_epoch = None if on_epoch is None else lambda _, records: on_epoch(records[0])
    (result,) = fit([config], ReferenceTrainer, model=model, resume=resume,
                    on_epoch=each_epoch, on_step=on_step, on_start=on_start)
    return result
