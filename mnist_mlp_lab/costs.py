"""What a sweep costs besides its training: evaluation, records and memory, measured.

* ``evaluation_cost``: per network, one epoch of training against the evaluation that follows
  it (the loss and confusion matrix on the training, validation and test splits);
* ``peak_memory``: the peak resident memory of a process that trains K networks for one epoch
  and evaluates them, each K in a fresh process;
* ``reproduction_cost``: the reproduction's wall time against its pure training time (the sum
  of its epochs' SGD steps), from a run of it;
* ``sweep_hours``: on paper, from the per-network timings, the wall time of a large sweep
  spread over many workers.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace

import torch

from mnist_mlp.data import load_mnist
from mnist_mlp.engine import Engine
from mnist_mlp.textbook import MLP

from .benchmark import synchronize
from .configurations import Settings
from .reproduce import reproduce

LR, BATCH_SIZE = 0.5, 10


@dataclass(frozen=True)
class EvaluationCost:
    """Seconds per network: one training epoch, and evaluating all three splits after it."""

    hidden_size: int
    networks: int
    training: float
    evaluation: float


def evaluation_cost(data_dir: str | None, hidden_size: int, networks: int = 10,
                    validation_size: int = 10_000, repeats: int = 1,
                    device: str = "cpu") -> EvaluationCost:
    """Time one epoch of ``networks`` networks in the engine, then their evaluation on the
    50,000 training, 10,000 validation and 10,000 test digits (after a warm-up of each); of
    ``repeats`` such rounds, the fastest epoch and the fastest evaluation."""
    data = load_mnist(data_dir, validation_size=validation_size).to(device)
    torch.manual_seed(0)
    engine = Engine([MLP(hidden_size) for _ in range(networks)], [LR] * networks,
                    "log_likelihood", device=device)
    training = data.train.with_target_vectors()
    generators = [torch.Generator().manual_seed(k) for k in range(networks)]
    engine.epoch(training.images[:2000], training.labels[:2000], BATCH_SIZE, generators)
    for split in data.named().values():
        engine.evaluate(split)  # warm-up: and the sparse rows of each split, made once
    epoch, evaluation = math.inf, math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        engine.epoch(training.images, training.labels, BATCH_SIZE, generators)
        synchronize(engine.device)
        middle = time.perf_counter()
        for split in data.named().values():
            engine.evaluate(split)
        synchronize(engine.device)
        end = time.perf_counter()
        epoch, evaluation = min(epoch, middle - start), min(evaluation, end - middle)
    return EvaluationCost(hidden_size, networks, epoch / networks, evaluation / networks)


def sweep_hours(cost: EvaluationCost, networks: int, workers: int, epochs: int = 30) -> float:
    """The hours a sweep of ``networks`` networks of ``epochs`` epochs takes on ``workers``
    workers, each as fast as the one that measured ``cost``: every network's epochs and
    evaluations, dealt out evenly (launch.Shard); nothing else counted (loading the data, the
    run folders' writes, gathering the results: each a few seconds per worker here)."""
    per_worker = -(-networks // workers)  # the fullest shard sets the pace
    return per_worker * epochs * (cost.training + cost.evaluation) / 3600


def peak_memory(networks: int, hidden_size: int, data_dir: str | None,
                validation_size: int = 10_000, device: str = "cpu") -> int:
    """The peak memory, in bytes, of a fresh process that trains ``networks`` networks for one
    epoch with ``train_many`` (evaluation included, no logs): its resident memory on a CPU;
    on a GPU, the GPU memory PyTorch allocated (what limits K there)."""
    program = ("import json\n"
               "from mnist_mlp import TrainConfig, train_many\n"
               f"config = TrainConfig(hidden_size={hidden_size}, epochs=1, log_dir=None, "
               f"data_dir={data_dir!r}, device={device!r}, validation_size={validation_size})\n"
               f"train_many(config, seeds=range({networks}))\n"
               + (f"import torch\nprint(json.dumps(torch.cuda.max_memory_allocated({device!r})))"
                  if torch.device(device).type == "cuda" else PRINT_PEAK))
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          check=True)
    return int(json.loads(done.stdout.splitlines()[-1]))


PRINT_PEAK = """\
import resource
try:
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(peak * 1024))
"""
"""Print the process's peak resident memory in bytes: Linux's VmHWM (kilobytes), not
ru_maxrss, which a process started by fork and exec inherits from its parent, so that a child
of a large process reports the parent's peak."""


@dataclass(frozen=True)
class ReproductionCost:
    """The reproduction's wall time and the part of it spent in SGD steps."""

    wall: float
    training: float

    @property
    def ratio(self) -> float:
        return self.wall / self.training


def reproduction_cost(settings: Settings) -> ReproductionCost:
    """Run the reproduction (by default every configuration, 10 seeds, 30 epochs), its logs and
    checkpoints in a temporary folder, and sum the seconds of its epochs' SGD steps."""
    with tempfile.TemporaryDirectory(prefix="mnist-mlp-costs-") as folder:
        result = reproduce(replace(settings, log_dir=folder))
    if result is None:  # one process: only a rank of torchrun other than 0 gets None
        raise RuntimeError("the reproduction returned nothing in one process")
    # the networks of a configuration train together: each record holds the grid's epoch time
    training = sum(record.seconds for configuration in result.results
                   for record in configuration.runs[0].history)
    return ReproductionCost(result.wall_seconds, training)
