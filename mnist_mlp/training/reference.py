"""The reference trainer: the loop people read, one network, autograd, a ``DataLoader``.

    for each epoch:                      (the training set reshuffled)
        for each mini-batch (x, y) of m samples:
            L = (1/m) Σ ℓ(F(x), y)       (the chosen loss, mini-batch mean)
            θ ← θ − η ∂L/∂θ              (plain SGD: ``textbook.sgd.sgd_step``)

ℓ is computed from the output layer's weighted input z, F = ψ(z) (``network_loss``): the same
number, and for (35) and the log-likelihood a gradient float32 can hold, δ = F − y. ``train_epoch``
is that loop and nothing else (the driver adds the rest); ``train`` runs it under the driver.
Also here: ``CapturedStep``, the step replayed from a CUDA graph, and ``train_data_parallel``,
each mini-batch split over torchrun's ranks (both explained in docs/training.md).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable
from functools import partial

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from ..data import DigitTensors, batches, epoch_order
from ..errors import ConfigError
from ..textbook.losses import network_loss
from ..textbook.model import MLP, WeightedInput
from ..textbook.sgd import descend, sgd_step
from .config import TrainConfig, cpu_threads, step_threads
from .driver import Network, fit
from .parallel import Launch
from .records import EpochRecord, Evaluation, RunStart, StepInfo, TrainResult, evaluate

# a step of SGD on one mini-batch, ``step(model, loss_fn, x, y, lr)`` → its loss before it
Step = Callable[[nn.Module, Callable[..., Tensor], Tensor, Tensor, float], Tensor]


def step_for(device: torch.device, batch_size: int) -> Step:
    """How the loop steps on ``device``: ``sgd_step``, on CUDA replayed (``CapturedStep``)."""
    return CapturedStep(batch_size) if device.type == "cuda" else sgd_step


def train_epoch(model: nn.Module, loss_fn: Callable[..., Tensor],
                loader: Iterable[tuple[Tensor, Tensor]], lr: float,
                on_step: Callable[[Tensor], None] | None = None,
                threads: int | None = None, step: Step = sgd_step) -> Tensor:
    """One pass over the (reshuffled) training set, one SGD step θ ← θ − η ∂L/∂θ per mini-batch
    with L = ``loss_fn(model(x), y)``; the mini-batch losses (steps,), each before its step.
    ``threads``: torch's CPU threads meanwhile (``step_threads``); ``step``: ``step_for``."""
    model.train()
    losses = []
    with cpu_threads(threads):
        for x, y in loader:
            losses.append(step(model, loss_fn, x, y, lr))
            if on_step is not None:
                on_step(losses[-1])
    return torch.stack(losses)


class ReferenceTrainer:
    """One network trained by ``train_epoch`` (the trainer of ``train``): it stops at the
    first NaN (nothing else to train) and logs figures."""

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
        losses = train_epoch(self.up_to_z, self.loss_fn, self.loader, self.config.network_lr,
                             on_step, step_threads(self.config.batch_size), self.step)
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
    """Train the network of ``config`` (or continue ``model``) on MNIST with the reference
    loop: one ``EpochRecord`` per epoch, each also to ``on_epoch``; ``on_step`` gets a
    ``StepInfo`` per mini-batch. ``resume``: a run folder or checkpoint to continue, ``config``
    the run's own (``resume_config``) but for ``epochs``, ``device``, ``data_dir``. Ctrl-C raises
    ``TrainingInterrupted``."""
    config.validate()
    if len(config.networks()) > 1:
        raise ConfigError(f"train trains one network, and this configuration describes "
                          f"{len(config.networks())} ({config.seeds} seeds for each lr of "
                          f"{config.lr}); train each of config.networks(), or all at once with "
                          "train_many")
    each_epoch = None if on_epoch is None else lambda _, records: on_epoch(records[0])
    (result,) = fit([config], ReferenceTrainer, model=model, resume=resume,
                    on_epoch=each_epoch, on_step=on_step, on_start=on_start)
    return result


# ---------------------------------------------------------------------------------------------
# The reference loop's step on a GPU: ``sgd_step``, unchanged, captured whole in a CUDA graph
# (why and how: docs/training.md#the-reference-step-on-a-gpu)


WARMUP_STEPS = 3  # eager steps on a side stream before capture, as torch.cuda.graphs asks


class CapturedStep:
    """``sgd_step``, replayed from a CUDA graph for mini-batches of ``batch_size`` (another
    size takes the eager step). Captured at the first full mini-batch, again only if model,
    loss, η or the batch's shape, dtype or device change; capture changes nothing the run keeps
    (the warm-up's weights put back, no random number drawn). A failed capture: eager, warned."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.key: tuple | None = None
        self.failed = False
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_x: Tensor | None = None
        self.static_y: Tensor | None = None
        self.static_loss: Tensor | None = None
        self.grads: list[Tensor | None] = []

    def __call__(self, model: nn.Module, loss_fn: Callable[..., Tensor], x: Tensor, y: Tensor,
                 lr: float) -> Tensor:
        """One SGD step on (x, y), as ``sgd_step``; returns the mini-batch's loss before it."""
        if self.failed or len(x) != self.batch_size or x.device.type != "cuda":
            return sgd_step(model, loss_fn, x, y, lr)
        key = (id(model), loss_fn, lr, x.shape, x.dtype, y.shape, y.dtype, x.device)
        if key != self.key:
            self._capture(model, loss_fn, x, y, lr)
            if self.failed:
                return sgd_step(model, loss_fn, x, y, lr)
            self.key = key
        # all four set together by the capture, which did not fail
        assert self.static_x is not None and self.static_y is not None
        assert self.graph is not None and self.static_loss is not None
        self.static_x.copy_(x)
        self.static_y.copy_(y)
        self.graph.replay()
        # an eager step in between (the last, smaller batch) gave the parameters gradients of
        # their own: point them back at the graph's, which hold this step's
        for parameter, grad in zip(model.parameters(), self.grads, strict=True):
            if parameter.grad is not grad:
                parameter.grad = grad
        return self.static_loss.clone()  # the next replay overwrites it

    def _capture(self, model: nn.Module, loss_fn: Callable[..., Tensor], x: Tensor, y: Tensor,
                 lr: float) -> None:
        """Warm up on a side stream, capture one ``sgd_step`` on copies of (x, y), restore θ."""
        saved = [p.detach().clone() for p in model.parameters()]
        self.static_x, self.static_y = x.clone(), y.clone()
        try:
            side = torch.cuda.Stream(device=x.device)
            side.wait_stream(torch.cuda.current_stream(x.device))
            with torch.cuda.stream(side):
                for _ in range(WARMUP_STEPS):
                    sgd_step(model, loss_fn, self.static_x, self.static_y, lr)
            torch.cuda.current_stream(x.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            # sgd_step sets the gradients to None first, so that backward allocates them in
            # the graph's private memory, where every replay writes them; captured on the
            # warm-up's stream, where cuBLAS has already set itself up
            with torch.cuda.graph(graph, stream=side):
                self.static_loss = sgd_step(model, loss_fn, self.static_x, self.static_y, lr)
            self.graph = graph
            self.grads = [p.grad for p in model.parameters()]
        except RuntimeError as error:  # pragma: no cover - depends on the CUDA setup
            warnings.warn(f"capturing the reference step in a CUDA graph failed ({error}); "
                          "its steps run eagerly", stacklevel=4)
            self.failed = True
        finally:
            torch.cuda.synchronize(x.device)  # the warm-up's steps are done, even after a failure
            with torch.no_grad():
                for parameter, value in zip(model.parameters(), saved, strict=True):
                    parameter.copy_(value)  # undo the warm-up's steps


# ---------------------------------------------------------------------------------------------
# The textbook's step, data-parallel: one network's mini-batches split over W ranks, each
# weighing its slice's summed loss by W/m, DDP averaging (÷ W): exactly ∂L/∂θ of the mini-batch
# (more: docs/training.md#one-network-over-several-processes)


def data_parallel_step(model: DistributedDataParallel, loss_fn: Callable[..., Tensor], x: Tensor,
                       y: Tensor, lr: float, batch: int, world_size: int) -> Tensor:
    """One SGD step θ ← θ − η ∂L/∂θ, L = (1/m) Σᵢ ℓᵢ over a mini-batch of m = ``batch`` of
    which this rank holds x, y (``model``: up to z; ``loss_fn``: ``network_loss``); returns the
    rank's W/m-weighted partial loss (their mean over the ranks is L)."""
    partial = loss_fn(model(x), y, reduction="sum") * (world_size / batch)
    return descend(model, partial, lr)  # θ ← θ − η ∂L/∂θ, DDP averaging the gradients


class DataParallelTrainer(ReferenceTrainer):
    """The reference trainer, each mini-batch split over torchrun's ranks (DDP): every rank
    holds the same weights after each step."""

    def __init__(self, networks: list[Network], train: DigitTensors, device: torch.device,
                 launch: Launch) -> None:
        super().__init__(networks, train, device)
        self.launch, self.shuffle = launch, networks[0].shuffle
        self.train = train.with_target_vectors()  # each rank slices the mini-batches itself
        self.description = f"reference loop, data-parallel over {launch.world_size} ranks"
        self.parallel = DistributedDataParallel(
            self.up_to_z, device_ids=[device.index] if device.type == "cuda" else None)

    def epoch(self, on_step: Callable[[Tensor], None]) -> Tensor:
        """One epoch: the same permutation on every rank, each rank its slice of each
        mini-batch; the mini-batch losses, summed over the ranks."""
        self.parallel.train()
        losses, m = [], self.config.batch_size
        order = epoch_order(len(self.train), self.shuffle)
        with cpu_threads(step_threads(m)):
            for batch in order.split(m):
                x, y = self.train[batch.tensor_split(self.launch.world_size)[self.launch.rank]]
                losses.append(data_parallel_step(self.parallel, self.loss_fn, x, y,
                                                 self.config.network_lr, len(batch),
                                                 self.launch.world_size))
                on_step(losses[-1])
        total = torch.stack(losses)
        dist.all_reduce(total)
        return (total / self.launch.world_size).unsqueeze(0).cpu()


def train_data_parallel(config: TrainConfig, launch: Launch,
                        on_epoch: Callable[[EpochRecord], None] | None = None,
                        on_step: Callable[[StepInfo], None] | None = None,
                        resume: str | os.PathLike | None = None,
                        on_start: Callable[[RunStart], None] | None = None) -> TrainResult:
    """``train``, each mini-batch split over torchrun's ranks (inside ``process_group``); every
    rank returns the same result, rank 0 alone writes (and resumes) the run folder."""
    if config.batch_size < launch.world_size:
        raise ConfigError(f"mini-batches of {config.batch_size} cannot be split over "
                          f"{launch.world_size} ranks (each needs a share of every mini-batch); "
                          "use fewer ranks or a larger --batch-size")
    each_epoch = None if on_epoch is None else lambda _, records: on_epoch(records[0])
    (result,) = fit([config], partial(DataParallelTrainer, launch=launch), resume=resume,
                    on_epoch=each_epoch, on_step=on_step, launch=launch,
                    write_runs=launch.primary, on_start=on_start)
    return result
