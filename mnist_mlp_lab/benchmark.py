"""Speed, measured: one epoch of each way to train the 784-l-10 network, on the same images.

(a) ``naive``: what a user writes by hand — torchvision's MNIST with ``ToTensor``, a
    ``DataLoader(batch_size=10, shuffle=True)``, ``nn.Sequential`` and ``optim.SGD``;
(b) ``reference``: this package's readable loop (``mnist_mlp.training.reference``);
(c, d) ``engine``: the fused engine (``mnist_mlp.engine``) with K networks at once; on a CPU
    its compiled loop (``mnist_mlp.engine.native``), and ``tensor-ops`` its tensor operations;
    on CUDA its steps captured in CUDA graphs, and ``engine-fused`` its fused kernel
    (``mnist_mlp.engine.fused``: a whole epoch of all K networks in one launch), where it can
    be built.

All train the reference network (sigmoid hidden layer, softmax output, cross-entropy, η = 0.5,
mini-batches of 10) for one epoch over all 60,000 training images, after a short warm-up.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torchvision
from torch import nn

from mnist_mlp.data import DigitTensors, batches, load_mnist, resolve_data_dir
from mnist_mlp.engine import Engine, describe_native_loop, fused_kernel, native_library
from mnist_mlp.textbook import MLP, log_likelihood
from mnist_mlp.training import TrainConfig, cpu_threads, step_for, step_threads, train_epoch

from .machine import machine

LR, BATCH_SIZE = TrainConfig().network_lr, TrainConfig().batch_size
"""The reference setup's η = 0.5 and mini-batches of 10."""


@dataclass
class Timing:
    """One measured epoch."""

    method: str
    device: str
    hidden_size: int
    networks: int
    seconds: float
    images: int

    @property
    def seconds_per_network(self) -> float:
        return self.seconds / self.networks

    @property
    def images_per_second(self) -> float:
        """Training images per second, per network."""
        return self.images / self.seconds_per_network


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def naive_epoch(data_dir: str | None, hidden_size: int, device: torch.device,
                limit: int | None = None) -> Callable[[], int]:
    """(a) The loop a user writes by hand, on the first ``limit`` images (default: all 60,000).

    Returns the epoch, ready to run (dataset, loader and model are made here, untimed); it
    returns the number of images it trained on.
    """
    root, _ = resolve_data_dir(data_dir)
    dataset = torchvision.datasets.MNIST(root, train=True,
                                         transform=torchvision.transforms.ToTensor())
    if limit is not None:
        dataset = torch.utils.data.Subset(dataset, range(limit))
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=True)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, hidden_size), nn.Sigmoid(),
                          nn.Linear(hidden_size, 10)).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()

    def epoch() -> int:
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()
        return len(dataset)

    return epoch


def reference_epoch(data: DigitTensors, hidden_size: int,
                    device: torch.device) -> Callable[[], int]:
    """(b) One epoch of the reference trainer's loop, ready to run (on CUDA its steps replayed
    from a CUDA graph, as the trainer takes them)."""
    torch.manual_seed(0)
    model = MLP(hidden_size).to(device)
    data = data.to(device)
    loader = batches(data.with_target_vectors(), BATCH_SIZE,
                     generator=torch.Generator().manual_seed(0), device=device)
    step = step_for(device, BATCH_SIZE)  # as the trainer takes them: on CUDA, from a graph

    def epoch() -> int:
        train_epoch(model, log_likelihood, loader, LR, threads=step_threads(BATCH_SIZE),
                    step=step)
        return len(data)

    return epoch


def engine_epoch(data: DigitTensors, hidden_size: int, device: torch.device, networks: int,
                 native: bool | None = None, fused: bool | None = None) -> Callable[[], int]:
    """(c, d) One epoch of the fused engine with ``networks`` networks, ready to run.

    ``native=False`` times its tensor operations where the compiled loop would run; ``fused``
    (on CUDA): its fused kernel (True) or its CUDA graphs (False).
    """
    torch.manual_seed(0)
    engine = Engine([MLP(hidden_size) for _ in range(networks)], [LR] * networks,
                    "log_likelihood", device, native=native, fused=fused)
    training = data.to(device).with_target_vectors()
    images, targets = training.images, training.labels
    engine.prepare(images)
    generators = [torch.Generator().manual_seed(k) for k in range(networks)]

    def epoch() -> int:
        engine.epoch(images, targets, BATCH_SIZE, generators)
        return len(data)

    return epoch


def methods(device: torch.device, networks: list[int]) -> list[tuple[str, int]]:
    """The (method, K) pairs timed on ``device``: on a CPU with the compiled loop, the
    engine's tensor operations too (``tensor-ops``), to show what the loop buys; on CUDA with
    the fused kernel, that kernel too (``engine-fused``) beside the CUDA graphs (``engine``)."""
    pairs = [("naive", 1), ("reference", 1), *(("engine", k) for k in networks)]
    if device.type == "cpu" and native_library(torch.float32) is not None:
        pairs += [("tensor-ops", k) for k in networks]
    if device.type == "cuda" and fused_kernel(cuda_index(device)) is not None:
        pairs += [("engine-fused", k) for k in networks]
    return pairs


def cuda_index(device: torch.device) -> int:
    """The index of a CUDA device (``cuda`` alone: the current one)."""
    return torch.cuda.current_device() if device.index is None else device.index


def prepare(method: str, data: DigitTensors, hidden_size: int, device: torch.device,
            networks: int, data_dir: str | None) -> Callable[[], int]:
    """One epoch of ``method`` ("naive", "reference", "engine", "tensor-ops" or
    "engine-fused") on ``data``, ready to run: only the training itself is timed."""
    if method == "naive":
        return naive_epoch(data_dir, hidden_size, device, limit=len(data))
    if method == "reference":
        return reference_epoch(data, hidden_size, device)
    return engine_epoch(data, hidden_size, device, networks,
                        native=False if method == "tensor-ops" else None,
                        fused=method == "engine-fused")


def run_benchmark(data_dir: str | None, hidden_sizes: list[int], networks: list[int],
                  devices: list[str], warmup: int = 2000, report=print,
                  repeats: int = 1) -> list[Timing]:
    """Time (a)–(d) for every hidden size and device; ``report`` each timing as it is made.

    Each timed epoch follows a warm-up epoch on the first ``warmup`` images (first calls,
    caches, compiling the native loop, CUDA-graph capture); of ``repeats`` epochs in a row the
    fastest counts (on a shared machine the others are the slower for what else ran). Setting
    up (loading the dataset, making the model, the engine's sparse copy of the images) is not
    timed.
    """
    data = load_mnist(data_dir, validation_size=0).train
    warm = DigitTensors(*data[:warmup])
    timings = []
    for name in devices:
        device = torch.device(name)
        for hidden in hidden_sizes:
            for method, k in methods(device, networks):
                prepare(method, warm, hidden, device, k, data_dir)()
                epoch = prepare(method, data, hidden, device, k, data_dir)
                seconds, images = fastest(epoch, device, repeats)
                timing = Timing(method, name, hidden, k, seconds, images)
                timings.append(timing)
                report(timing)
    return timings


def fastest(epoch: Callable[[], int], device: torch.device, repeats: int) -> tuple[float, int]:
    """The seconds of the fastest of ``repeats`` runs of ``epoch``, and its images."""
    best = math.inf
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        images = epoch()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best, images


PHASES = ("load", "forward", "loss", "backward", "update")


def run_phases(data_dir: str | None, hidden_sizes: list[int]) -> dict[int, dict[str, float]]:
    """``reference_phases`` on the MNIST training images, for each hidden size."""
    data = load_mnist(data_dir, validation_size=0).train
    return {hidden: reference_phases(data, hidden) for hidden in hidden_sizes}


def reference_phases(data: DigitTensors, hidden_size: int, steps: int = 3000) -> dict[str, float]:
    """Where a step of the reference loop spends its time, on the CPU: microseconds per
    mini-batch in each phase of ``train.sgd_step`` (written out here with a clock between the
    phases), averaged over up to ``steps`` mini-batches of ``data``.

    load: the ``DataLoader`` gives (x, y); forward: F = model(x); loss: the textbook loss of F;
    backward: zero the gradients and backpropagate (autograd); update: θ ← θ − η ∂L/∂θ.
    """
    torch.manual_seed(0)
    model = MLP(hidden_size)
    loader = batches(data.with_target_vectors(), BATCH_SIZE,
                     generator=torch.Generator().manual_seed(0))
    totals, clock = dict.fromkeys(PHASES, 0.0), time.perf_counter
    iterator, count = iter(loader), min(steps, len(loader))
    with cpu_threads(step_threads(BATCH_SIZE)):
        for _ in range(count):
            t0 = clock()
            x, y = next(iterator)
            t1 = clock()
            output = model(x)
            t2 = clock()
            loss = log_likelihood(output, y)
            t3 = clock()
            model.zero_grad(set_to_none=True)
            loss.backward()
            t4 = clock()
            with torch.no_grad():
                for theta in model.parameters():
                    if theta.grad is not None:  # each has one after backward (as SGD checks)
                        theta.add_(theta.grad, alpha=-LR)
            t5 = clock()
            for phase, start, end in zip(PHASES, (t0, t1, t2, t3, t4), (t1, t2, t3, t4, t5),
                                         strict=True):
                totals[phase] += end - start
    return {phase: seconds / count * 1e6 for phase, seconds in totals.items()}


def table(timings: list[Timing]) -> str:
    """A Markdown table: seconds per epoch, per network, images/s and the ratio to (a)."""
    lines = ["| device | l | method | K | s / epoch | s / epoch / network | images/s/network "
             "| × naive |", "|---|---:|---|---:|---:|---:|---:|---:|"]
    for t in timings:
        naive = next(n for n in timings if n.method == "naive" and n.device == t.device
                     and n.hidden_size == t.hidden_size)
        ratio = naive.seconds_per_network / t.seconds_per_network
        lines.append(f"| {t.device} | {t.hidden_size} | {t.method} | {t.networks} "
                     f"| {t.seconds:.3f} | {t.seconds_per_network:.4f} "
                     f"| {t.images_per_second:,.0f} | {ratio:.1f} |")
    return "\n".join(lines)


TARGETS = {"engine, one network": 20.0, "engine, per network at K >= 10": 40.0,
           "reference loop": 3.0}
"""What each trainer was built to reach, in times the naive loop's epoch (per network)."""


def best_ratio(timings: list[Timing], naive: Timing, method: str, least: int = 1,
               most: int | None = None) -> float | None:
    """The best per-network speed of ``method`` with least…most networks, in times ``naive``."""
    ratios = [naive.seconds_per_network / t.seconds_per_network for t in timings
              if t.method == method and least <= t.networks <= (most or t.networks)]
    return max(ratios) if ratios else None


def target_lines(timings: list[Timing]) -> str:
    """For each device and l: each target of ``TARGETS`` against what was measured, met or
    missed — computed from the timings, never written by hand."""
    lines = []
    for device, hidden in dict.fromkeys((t.device, t.hidden_size) for t in timings):
        mine = [t for t in timings if t.device == device and t.hidden_size == hidden]
        naive = next((t for t in mine if t.method == "naive"), None)
        if naive is None:
            continue
        measured = {"engine, one network": best_ratio(mine, naive, "engine", 1, 1),
                    "engine, per network at K >= 10": best_ratio(mine, naive, "engine", 10),
                    "reference loop": best_ratio(mine, naive, "reference")}
        parts = [f"{what} {ratio:.1f}x (target {TARGETS[what]:g}x: "
                 f"{'met' if ratio >= TARGETS[what] else 'missed'})"
                 for what, ratio in measured.items() if ratio is not None]
        lines.append(f"Targets on {device}, l = {hidden}, in times the naive loop: "
                     + "; ".join(parts) + ".")
    return "\n\n".join(lines)


def phase_table(phases: dict[int, dict[str, float]]) -> str:
    """A Markdown table of ``reference_phases`` for each hidden size: µs per mini-batch."""
    lines = ["| l | " + " | ".join(PHASES) + " | total |", "|---:|" + "---:|" * (len(PHASES) + 1)]
    for hidden, times in phases.items():
        lines.append(f"| {hidden} | " + " | ".join(f"{times[p]:.0f}" for p in PHASES)
                     + f" | {sum(times.values()):.0f} |")
    return "\n".join(lines)


def as_json(timings: list[Timing],
            phases: dict[int, dict[str, float]] | None = None) -> dict[str, object]:
    result: dict[str, object] = {"machine": machine(), "native_loop": describe_native_loop(),
                                 "timings": [asdict(t) | {
        "seconds_per_network": t.seconds_per_network,
        "images_per_second_per_network": t.images_per_second} for t in timings]}
    if phases:
        result["reference_phases_us"] = {str(k): v for k, v in phases.items()}
    return result
