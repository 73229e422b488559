"""The fast trainer: K networks at once in the fused engine (``mnist_mlp.engine``).

``train_many`` is its public entry point: a grid of learning rates × seeds, trained together
under the same driver as the reference loop (``driver.py``), so that each network gets what
``train`` would give it: the same initial weights, the same mini-batch order, the same history,
run folder and checkpoints. ``resume_sweep`` continues a sweep that was stopped, from its
manifest (``sweep.py``), as one sweep on the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..data import DigitTensors
from ..engine import Engine
from ..textbook.model import MLP
from .config import TrainConfig, config_of
from .driver import MakeTrainer, Network, TrainingInterrupted, fit
from .evaluation import Evaluation
from .launch import ONE_PROCESS, WHOLE, Launch, Shard
from .records import EpochRecord, RunStart, TrainResult
from .sweep import Member, SweepState, write_manifest

BACKEND_WORDS = {"native": "compiled CPU loop", "tensor-ops": "tensor operations",
                 "cuda-graphs": "CUDA graphs", "cuda-fused": "fused CUDA kernel"}
"""The engine's backends (``Engine.backend.name``) in words, for a run's first line."""


class FastTrainer:
    """K networks of one architecture, trained by the engine.

    A network that diverges is recorded as it is while the others go on. No figures are logged
    for TensorBoard: for a sweep of K networks they would cost more than the training.
    """

    name = "fast"
    stops_at_first_divergence = False
    logs_figures = False

    def __init__(self, networks: list[Network], train: DigitTensors, device: torch.device,
                 dtype: torch.dtype = torch.float32, cuda_graph: bool = True,
                 native: bool | None = None, fused: bool | None = None) -> None:
        self.config = networks[0].config
        self.engine = Engine([n.model for n in networks], [n.config.lr for n in networks],
                             self.config.loss, device, dtype, cuda_graph, native, fused)
        backend = self.engine.backend.name
        self.description = f"fast engine ({BACKEND_WORDS.get(backend, backend)})"
        self.generators = [n.shuffle for n in networks]
        training = train.with_target_vectors()
        self.images, self.targets = training.images.to(dtype), training.labels.to(dtype)

    def epoch(self, on_step: Callable[[Tensor], None]) -> Tensor:
        return self.engine.epoch(self.images, self.targets, self.config.batch_size,
                                 self.generators).cpu()

    def evaluate(self, data: DigitTensors) -> list[Evaluation]:
        losses, confusions = self.engine.evaluate(data)
        return [Evaluation(loss, confusion)
                for loss, confusion in zip(losses.tolist(), confusions, strict=True)]

    def models(self) -> list[MLP]:
        return self.engine.models()


def train_many(config: TrainConfig, seeds: Sequence[int] | None = None,
               lrs: Sequence[float] | None = None,
               on_epoch: Callable[[int, list[EpochRecord]], None] | None = None,
               dtype: torch.dtype = torch.float32, cuda_graph: bool = True,
               native: bool | None = None, networks: Sequence[tuple[float, int]] | None = None,
               launch: Launch = ONE_PROCESS, fused: bool | None = None,
               manifest: dict[str, Any] | None = None, shard: Shard = WHOLE,
               on_start: Callable[[RunStart], None] | None = None) -> list[TrainResult]:
    """Train the grid ``lrs × seeds`` of networks described by ``config``, all at once.

    Network (η, s) is initialised and shuffled exactly as ``train(replace(config, lr=η,
    seed=s))`` would do, and its result has the same history and metrics. Its ``seconds`` is
    the wall time of the whole grid's epoch. A network whose loss becomes NaN or infinite is
    kept (its history shows it); if every network diverges, ``DivergenceError`` is raised.
    ``on_epoch(epoch, records)`` is called with the K records of each epoch. With a
    ``log_dir``, each network gets its own run folder with TensorBoard logs and checkpoints.
    ``dtype``, ``cuda_graph``, ``native``, ``fused``: as for ``Engine``. ``networks``: the
    (η, s) pairs to train instead of the grid (a shard of one, say); ``launch``: as for
    ``fit``. ``manifest``: with a ``log_dir`` (and one process), write the sweep's manifest,
    recording this grid of the whole sweep (plain data) and ``shard``, the part trained here
    (``sweep.py``), so that ``resume_sweep`` continues it; an interruption then names it.
    ``on_start``: as for ``fit``.
    """
    if networks is None:
        seeds = [config.seed] if seeds is None else list(seeds)
        lrs = [config.lr] if lrs is None else list(lrs)
        networks = [(lr, seed) for lr in lrs for seed in seeds]
    configs = [replace(config, lr=lr, seed=seed) for lr, seed in networks]
    written: list[Path] = []

    def write(results: list[TrainResult]) -> None:
        written.append(write_manifest(config.log_dir, manifest, shard, [
            Member(r.config.lr, r.config.seed, r.run_dir) for r in results]))

    resumable = manifest is not None and bool(config.log_dir) and not launch.distributed
    try:
        return fit(configs, _trainer(dtype, cuda_graph, native, fused), on_epoch=on_epoch,
                   launch=launch, on_folders=write if resumable else None, on_start=on_start)
    except TrainingInterrupted as stop:
        stop.sweep = written[0] if written else None
        raise


def resume_sweep(state: SweepState, changes: dict[str, Any] | None = None,
                 on_epoch: Callable[[int, list[EpochRecord]], None] | None = None,
                 dtype: torch.dtype = torch.float32, cuda_graph: bool = True,
                 native: bool | None = None, fused: bool | None = None,
                 on_start: Callable[[RunStart], None] | None = None) -> list[TrainResult]:
    """Continue a sweep that was stopped (``sweep_state(manifest)``, ``sweep.py``): every
    network from the checkpoint of its last completed epoch, in its run folder, on the engine —
    to exactly the weights and histories of the sweep had it not stopped (bitwise on the CPU's
    compiled loop). A network that had diverged is restored as it was (``diverged.pt``) and
    stays diverged. ``changes``: the settings a resumed run may change (``epochs``,
    ``device``, ``data_dir``…). Returns the results in the manifest's order. Networks saved at
    different epochs (a sweep killed while writing them) go on in groups, each from its own.
    ``on_start``: as for ``fit`` (called for each group)."""
    checkpoints = state.checkpoints
    configs = [replace(config_of(checkpoint), **(changes or {})) for checkpoint in checkpoints]
    results: list[TrainResult | None] = [None] * len(configs)
    try:
        for epoch in sorted({checkpoint.epoch for checkpoint in checkpoints}):
            group = [k for k, checkpoint in enumerate(checkpoints) if checkpoint.epoch == epoch]
            part = fit([configs[k] for k in group], _trainer(dtype, cuda_graph, native, fused),
                       resume=[checkpoints[k].path for k in group], on_epoch=on_epoch,
                       on_start=on_start)
            for k, result in zip(group, part, strict=True):
                results[k] = result
    except TrainingInterrupted as stop:
        stop.sweep = state.manifest.path
        raise
    return results  # type: ignore[return-value]


def _trainer(dtype: torch.dtype, cuda_graph: bool, native: bool | None,
             fused: bool | None) -> MakeTrainer:
    return partial(FastTrainer, dtype=dtype, cuda_graph=cuda_graph, native=native, fused=fused)
