"""The fast engine: K networks trained at once by the hand-written backpropagation, fused.

The reference loop (``mnist_mlp.train``) trains one network with autograd, a few dozen small
tensor operations per mini-batch. Here the same arithmetic runs for K independent networks of
one architecture — different seeds and/or learning rates — in a handful of batched operations:

* the data sits on the device as one tensor, and network k's mini-batch is a row of indices
  into it, drawn from its own generator by ``mnist_mlp.data.epoch_order``;
* the parameters of the K networks are stacked: ``W1`` (K, l, 784), ``b1`` (K, 1, l),
  ``W2`` (K, 10, l), ``b2`` (K, 1, 10), so every layer is one batched matrix product;
* the gradients are the textbook's (BP1)–(BP4), as in ``mnist_mlp.backprop``, with the SGD
  update θ ← θ − η ∂L/∂θ folded into the weight-gradient products (``baddbmm_``);
* on CUDA, runs of steps are captured once in a CUDA graph and replayed, so that launching
  ~20 small kernels does not dominate a mini-batch of 10;
* on a CPU, where each tensor operation costs microseconds of overhead whatever its size, a
  whole epoch of one network is a single call into C (``mnist_mlp.native``, the same
  arithmetic written out as loops), networks spread over the CPU's threads; without a C
  compiler, the tensor operations of ``step`` run instead.

With the same initial weights and the same mini-batch order, network k ends an epoch with the
weights that ``mnist_mlp.train`` gives it (tests compare them), and ``train_many`` returns the
same ``TrainResult`` as ``train``.
"""

from __future__ import annotations

import ctypes
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace

import torch
from torch import Tensor

from . import native as native_loop
from .activations import Sigmoid, Softmax
from .checkpoint import capture, is_new_best, save_epoch
from .data import DigitTensors, epoch_order, load_mnist
from .losses import F_FLOOR, get_loss
from .metrics import classification_report, confusion_matrix
from .model import MLP, NUM_CLASSES
from .runs import RunLog, check_writable, create_run_dir, run_name
from .train import (
    DivergenceError,
    TrainConfig,
    TrainResult,
    check_batch_size,
    is_finite,
    resolve_device,
)

MATCHED_PAIRS = {(Sigmoid, "binary_cross_entropy"), (Softmax, "cross_entropy")}
"""Output activation and loss whose output error simplifies to δ² = F − y (Nielsen ch. 3, eq. 81).

For these the engine skips ``∂ℓ/∂F`` and the Jacobian: the same number, fewer operations."""

GRAPH_STEPS = 50
"""Mini-batch steps captured in one CUDA graph."""

LOSS_CHUNK = 1 << 25
"""Outputs (numbers) whose losses are computed at once at the end of an epoch."""


class Engine:
    """K networks of one architecture with stacked parameters, trained by fused SGD steps."""

    def __init__(self, models: Sequence[MLP], lrs: Sequence[float], loss: str,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                 cuda_graph: bool = True, native: bool | None = None) -> None:
        """``native``: on a CPU, run epochs in the compiled loop (True: required; None: when
        it can be built, else warn and use tensor operations; False: tensor operations)."""
        if not models or len(models) != len(lrs):
            raise ValueError("give one learning rate per model, and at least one model")
        if len({(m.hidden_size, m.activation_name, m.output_activation_name)
                for m in models}) != 1:
            raise ValueError("all models of an Engine must have the same architecture")
        first = models[0]
        self.config = first.config()
        self.activation = type(first.activation)()
        self.output_activation = type(first.output_activation)()
        self.loss, self.loss_name = get_loss(loss), loss
        self.matched = (type(self.output_activation), loss) in MATCHED_PAIRS
        self.device, self.dtype = torch.device(device), dtype
        self.lr_values = [float(lr) for lr in lrs]
        self.lrs = torch.tensor(self.lr_values, dtype=dtype, device=self.device).view(-1, 1, 1)

        def stack(get: Callable[[MLP], Tensor]) -> Tensor:
            return torch.stack([get(m).detach() for m in models]).to(self.device, dtype)

        self.W1 = stack(lambda m: m.hidden.weight)
        self.b1 = stack(lambda m: m.hidden.bias.unsqueeze(0))
        self.W2 = stack(lambda m: m.output.weight)
        self.b2 = stack(lambda m: m.output.bias.unsqueeze(0))
        self.use_graph = cuda_graph and self.device.type == "cuda"
        self._graphs: dict[tuple[int, int], tuple[torch.cuda.CUDAGraph, Tensor]] = {}
        self.native = self._native_library(native)
        self._rows: tuple[tuple[int, ...], native_loop.SparseRows] | None = None

    def _native_library(self, wanted: bool | None) -> ctypes.CDLL | None:
        """The compiled loop to use, or None for tensor operations."""
        if wanted is False or self.device.type != "cpu":
            if wanted and self.device.type != "cpu":
                raise ValueError("the native loop runs on the CPU only")
            return None
        lib = native_loop.library(self.dtype)
        if lib is None:
            if wanted:
                raise RuntimeError(native_loop.unavailable_reason)
            if "MNIST_MLP_NATIVE" not in (native_loop.unavailable_reason or ""):
                warnings.warn(f"{native_loop.unavailable_reason}; the engine uses tensor "
                              "operations instead (slower)", stacklevel=3)
        return lib

    @property
    def size(self) -> int:
        """K, the number of networks."""
        return self.W1.shape[0]

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """a¹ and F for inputs x of shape (K, m, 784): one batched product per layer."""
        a1 = self.activation(torch.baddbmm(self.b1, x, self.W1.mT))
        return a1, self.output_activation(torch.baddbmm(self.b2, a1, self.W2.mT))

    def step(self, x: Tensor, y: Tensor, outputs: Tensor) -> None:
        """One SGD step of every network on its mini-batch x (K, m, 784), y (K, m, 10).

        Writes the networks' outputs F (before the update) into ``outputs`` (K, m, 10), from
        which ``epoch`` computes the mini-batch losses, all at once, at the end of the epoch.
        """
        a1, F = self.forward(x)
        outputs.copy_(F)
        if self.matched:
            delta2 = F - y                                                 # (BP1), simplified
        else:
            delta2 = self.output_activation.backward(F, self.loss.grad(F, y))  # (BP1)
        delta2 = delta2 * (self.lrs / x.shape[1])       # η/m: the mean, and the step size
        delta1 = self.activation.backward(a1, torch.bmm(delta2, self.W2))  # (BP2)
        self.W2.baddbmm_(delta2.mT, a1, alpha=-1)       # W² ← W² − η ∂L/∂W²   (BP4)
        self.b2.sub_(delta2.sum(dim=1, keepdim=True))   # b² ← b² − η ∂L/∂b²   (BP3)
        self.W1.baddbmm_(delta1.mT, x, alpha=-1)        # W¹ ← W¹ − η ∂L/∂W¹   (BP4)
        self.b1.sub_(delta1.sum(dim=1, keepdim=True))   # b¹ ← b¹ − η ∂L/∂b¹   (BP3)

    def epoch(self, images: Tensor, targets: Tensor, batch_size: int,
              generators: Sequence[torch.Generator]) -> Tensor:
        """One epoch of every network; returns each one's mini-batch losses (K, steps), in the
        order it took them (their mean over steps is the epoch's training loss).

        ``images`` (N, 784) and ``targets`` (N, 10) are on the engine's device; network k
        visits them in the order ``epoch_order(N, generators[k])``, in mini-batches.
        """
        n = images.shape[0]
        order = torch.stack([epoch_order(n, g) for g in generators]).to(self.device)
        outputs = torch.empty(self.size, n, NUM_CLASSES, dtype=self.dtype, device=self.device)
        if self.native is not None:
            self._native_epoch(images, targets, order, batch_size, outputs)
        else:
            done = 0  # steps run as CUDA-graph replays, the rest one by one
            if self.use_graph:
                done = self._graph_steps(images, targets, order, batch_size, outputs)
            for start in range(done * batch_size, n, batch_size):
                index = order[:, start:start + batch_size]
                self.step(images[index], targets[index], outputs[:, start:start + batch_size])
        return self._batch_losses(outputs, targets, order, batch_size)

    def _batch_losses(self, outputs: Tensor, targets: Tensor, order: Tensor,
                      batch_size: int) -> Tensor:
        """The mean loss of each mini-batch (K, steps) from the recorded outputs (K, N, 10),
        a few networks at a time so that the loss's temporaries stay small for large K."""
        n = outputs.shape[1]
        networks = max(1, LOSS_CHUNK // (n * NUM_CLASSES))
        losses = torch.cat([self.loss.fn(out, targets[index], reduction="none")  # visit order
                            for out, index in zip(outputs.split(networks), order.split(networks),
                                                  strict=True)])
        return torch.stack([batch.mean(dim=1) for batch in losses.split(batch_size, dim=1)],
                           dim=1)

    def prepare(self, images: Tensor) -> None:
        """Get ready to train on ``images``: the compiled loop reads them as sparse rows, made
        here once (``epoch`` calls this; call it first to keep the conversion out of a
        timing)."""
        if self.native is None:
            return
        key = (images.data_ptr(), images._version, *images.shape, *images.stride())
        if self._rows is None or self._rows[0] != key:
            self._rows = (key, native_loop.SparseRows.of(images))

    def _native_epoch(self, images: Tensor, targets: Tensor, order: Tensor, batch_size: int,
                      outputs: Tensor) -> None:
        """The epoch of ``epoch``, each network in one call of the compiled loop."""
        self.prepare(images)
        native_loop.train_epochs(
            self.native, self._rows[1], targets.contiguous(), order, self.lr_values, batch_size,
            self.config["activation"], self.config["output_activation"], self.loss_name,
            self.matched, F_FLOOR, self.W1, self.b1, self.W2, self.b2, outputs)

    def _graph_steps(self, images: Tensor, targets: Tensor, order: Tensor, batch_size: int,
                     outputs: Tensor) -> int:
        """Run the epoch's full mini-batches in chunks of GRAPH_STEPS, each a CUDA-graph replay.

        Returns how many steps ran; the rest run eagerly. Falls back to eager steps (with a
        warning) if capturing fails.
        """
        chunks = images.shape[0] // batch_size // GRAPH_STEPS
        if chunks == 0:
            return 0
        key = (images.data_ptr(), batch_size)
        try:
            if key not in self._graphs:
                self._graphs = {key: self._capture(images, targets, batch_size)}
        except RuntimeError as error:  # pragma: no cover - depends on the CUDA setup
            warnings.warn(f"CUDA graph capture failed ({error}); running eagerly", stacklevel=3)
            self.use_graph = False
            return 0
        graph, (static_order, static_outputs) = self._graphs[key]
        span = GRAPH_STEPS * batch_size
        for chunk in range(chunks):
            static_order.copy_(order[:, chunk * span:(chunk + 1) * span])
            graph.replay()
            outputs[:, chunk * span:(chunk + 1) * span].copy_(static_outputs)
        return chunks * GRAPH_STEPS

    def _capture(self, images: Tensor, targets: Tensor, batch_size: int):  # pragma: no cover
        """Capture GRAPH_STEPS steps reading their indices from a static (K, steps·m) buffer
        and writing their outputs to a static (K, steps·m, 10) one."""
        span = GRAPH_STEPS * batch_size
        static_order = torch.zeros(self.size, span, dtype=torch.long, device=self.device)
        static_outputs = torch.zeros(self.size, span, NUM_CLASSES, dtype=self.dtype,
                                     device=self.device)
        saved = [t.clone() for t in (self.W1, self.b1, self.W2, self.b2)]

        def steps() -> None:
            for start in range(0, span, batch_size):
                index = static_order[:, start:start + batch_size]
                self.step(images[index], targets[index],
                          static_outputs[:, start:start + batch_size])

        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            steps()  # warm-up, as torch.cuda.graphs asks
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            steps()
        for param, value in zip((self.W1, self.b1, self.W2, self.b2), saved, strict=True):
            param.copy_(value)  # undo the warm-up's steps
        return graph, (static_order, static_outputs)

    @torch.no_grad()
    def evaluate(self, data: DigitTensors) -> tuple[Tensor, Tensor]:
        """Mean loss (K,) and predicted classes (K, N) of every network on ``data``."""
        n, k = len(data), self.size
        chunk = max(1, (1 << 24) // (k * max(self.W1.shape[1], NUM_CLASSES)))
        loss_sum = torch.zeros(k, dtype=self.dtype, device=self.device)
        predictions = []
        for start in range(0, n, chunk):
            x = data.images[start:start + chunk].to(self.dtype)
            y = torch.nn.functional.one_hot(data.labels[start:start + chunk], NUM_CLASSES)
            _, F = self.forward(x.expand(k, *x.shape))
            loss_sum += self.loss.fn(F, y.to(self.dtype).expand(k, *y.shape), "none").sum(1)
            predictions.append(F.argmax(dim=-1))
        return loss_sum / n, torch.cat(predictions, dim=1)

    def models(self) -> list[MLP]:
        """The K networks as ordinary ``MLP`` modules (on the engine's device and dtype)."""
        result = []
        for k in range(self.size):
            model = MLP(**self.config).to(self.device, self.dtype)
            model.load_state_dict({"hidden.weight": self.W1[k], "hidden.bias": self.b1[k, 0],
                                   "output.weight": self.W2[k], "output.bias": self.b2[k, 0]})
            result.append(model)
        return result


def train_many(config: TrainConfig, seeds: Sequence[int] | None = None,
               lrs: Sequence[float] | None = None,
               on_epoch: Callable[[int, list[dict[str, float]]], None] | None = None,
               dtype: torch.dtype = torch.float32, cuda_graph: bool = True,
               native: bool | None = None) -> list[TrainResult]:
    """Train the grid ``lrs × seeds`` of networks described by ``config``, all at once.

    Network (η, s) is initialised and shuffled exactly as ``train(replace(config, lr=η,
    seed=s))`` would do, and its result has the same history and metrics. Its ``seconds`` is
    the wall time of the whole grid's epoch. A network whose loss becomes NaN or infinite is
    kept (its history shows it); if every network diverges, ``DivergenceError`` is raised.
    ``on_epoch(epoch, records)`` is called with the K records of each epoch. With a
    ``log_dir``, each network gets its own run folder: TensorBoard (epoch scalars and the running
    loss) and checkpoints (``save_checkpoints``). ``native``: as for ``Engine``.
    """
    seeds = [config.seed] if seeds is None else list(seeds)
    lrs = [config.lr] if lrs is None else list(lrs)
    configs = [replace(config, lr=lr, seed=seed) for lr in lrs for seed in seeds]
    for c in configs:
        c.validate()
    device = resolve_device(config.device)
    if config.log_dir:
        check_writable(config.log_dir)  # before the data is loaded
    data = load_mnist(config.data_dir, train_size=config.train_size,
                      validation_size=config.validation_size)
    check_batch_size(config.batch_size, len(data.train))
    models = []
    for c in configs:
        torch.manual_seed(c.seed)
        models.append(MLP(c.hidden_size, c.activation, c.output_activation, c.init))
    engine = Engine(models, [c.lr for c in configs], config.loss, device, dtype, cuda_graph,
                    native)
    generators = [torch.Generator().manual_seed(c.seed) for c in configs]
    splits = data.to(device).named()
    training = splits["train"].with_target_vectors()
    images, targets = training.images.to(dtype), training.labels.to(dtype)
    results = [TrainResult(model=None, config=c) for c in configs]  # type: ignore[arg-type]
    logs = []
    if config.log_dir:
        for result in results:
            result.run_dir = create_run_dir(config.log_dir, run_name(asdict(result.config)))
            logs.append(RunLog(result.run_dir, asdict(result.config) | {
                "device": str(device), "engine": "fast"}))
    try:
        for epoch in range(1, config.epochs + 1):
            start = time.perf_counter()
            batch_losses = engine.epoch(images, targets, config.batch_size, generators).cpu()
            seconds = time.perf_counter() - start  # .cpu() waited for the device
            train_loss = batch_losses.mean(dim=1).tolist()
            records = [{"epoch": epoch, "train_loss": loss, "seconds": seconds}
                       for loss in train_loss]
            for split, subset in splits.items():
                _add_evaluation(records, split, *engine.evaluate(subset), subset.labels)
            for k, record in enumerate(records):
                results[k].history.append(record)
                if logs:
                    logs[k].epoch(record)
            if logs:
                log_running_loss(logs, batch_losses, epoch, config.log_every)
                save_checkpoints(engine, results, generators)
            if on_epoch is not None:
                on_epoch(epoch, records)
            if not any(math.isfinite(r["train_loss"]) for r in records):
                raise DivergenceError(
                    f"the training loss of every network became NaN or infinite in epoch "
                    f"{epoch} (lr {', '.join(f'{lr:g}' for lr in lrs)}): try a smaller --lr")

        _, predictions = engine.evaluate(splits["test"])
        for k, model in enumerate(engine.models()):
            results[k].model = model
            results[k].metrics = classification_report(
                confusion_matrix(predictions[k], splits["test"].labels))
            if logs:
                logs[k].finish({"test_accuracy": results[k].metrics.accuracy,
                                "test_loss": results[k].history[-1]["test_loss"]})
    finally:
        for log in logs:
            log.close()
    return results


def log_running_loss(logs: list[RunLog], batch_losses: Tensor, epoch: int,
                     every: int) -> None:
    """Every ``every``-th mini-batch loss of the epoch as ``loss/train_running``, at its global
    step, as the reference trainer logs it."""
    steps = batch_losses.shape[1]
    for step in range(every - (epoch - 1) * steps % every, steps + 1, every):
        for log, losses in zip(logs, batch_losses[:, step - 1].tolist(), strict=True):
            log.scalar("loss/train_running", losses, (epoch - 1) * steps + step)


def save_checkpoints(engine: Engine, results: list[TrainResult],
                     generators: Sequence[torch.Generator]) -> None:
    """Write each network's ``last.pt`` (and ``best.pt``) into its run folder, as the reference
    trainer does: ``mnist-mlp-evaluate`` and ``mnist-mlp-predict`` read them, and ``--resume``
    continues one with the reference loop. A network whose loss or weights are no longer finite
    keeps the checkpoints of its last good epoch."""
    for result, model, shuffle in zip(results, engine.models(), generators, strict=True):
        if is_finite(model, result.history[-1]["train_loss"]):
            save_epoch(capture(model, asdict(result.config), result.history, shuffle),
                       result.run_dir, best=is_new_best(result.history))


def _add_evaluation(records: list[dict[str, float]], split: str, losses: Tensor,
                    predictions: Tensor, labels: Tensor) -> None:
    """Put each network's ``<split>_loss`` and ``<split>_accuracy`` into its record."""
    accuracies = (predictions == labels).to(torch.float64).mean(dim=1)
    for record, loss, accuracy in zip(records, losses.tolist(), accuracies.tolist(),
                                      strict=True):
        record[f"{split}_loss"] = loss
        record[f"{split}_accuracy"] = accuracy
