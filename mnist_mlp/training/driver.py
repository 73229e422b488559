"""The training driver: one run of K networks, whatever trains them.

    check the settings ─ device ─ log folder ─ data ─ networks (seed, initialise, resume)
    for each epoch:
        trainer.epoch()                    SGD over the reshuffled training set, every network
        divergence                         a NaN or infinite loss, output or weight
        evaluate every split               loss, accuracy, confusion matrix
        record, checkpoint, TensorBoard    for each network
    the final test report
    Ctrl-C: ``TrainingInterrupted``, naming the checkpoint of the last completed epoch

All of this is done here, once, for both trainers. A trainer (``Trainer``) only runs the SGD
epochs and evaluates its networks: the reference loop (``reference.py``: one network, autograd,
a ``DataLoader``) or the fast engine (``fast.py``: K networks, fused). Where the two differ on
purpose, it is a named property of the trainer.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor

from ..data import DigitTensors, load_mnist, steps_per_epoch
from ..errors import ConfigError, UserError, exit_status
from ..files import check_writable, signals_held
from ..textbook.metrics import classification_report
from ..textbook.model import MLP
from .checkpoints import (
    BEST,
    DIVERGED,
    LAST,
    Checkpoint,
    Keeper,
    Kept,
    RunLock,
    capture,
    check_resumable,
    in_own_run_folder,
    is_new_best,
    load_checkpoint,
    restore,
)
from .config import (
    PER_NETWORK,
    TrainConfig,
    check_batch_size,
    check_memory,
    resolve_device,
    why_device,
)
from .parallel import ONE_PROCESS, Launch, first_then_others
from .records import EpochRecord, Evaluation, RunStart, StepInfo, TrainResult
from .tensorboard import RunLog, create_run_dir, run_name

DIVERGENCE_CHECK_STEPS = 100
"""Every this many mini-batches the reference loop's loss is checked for NaN, so that a diverged
run stops soon."""


class DivergenceError(UserError):
    """The loss became NaN or infinite; the message says when and what to try."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C, SIGTERM or SIGHUP during training. ``checkpoint`` is the ``last.pt`` of the last
    completed epoch (None when no epoch was completed or there is no run folder; of the first
    network when there are several), ``epoch`` that epoch, ``epochs`` the epochs asked for
    (``epoch == epochs``: the run is complete), ``networks`` how many networks were training,
    ``exit_status`` 130 for Ctrl-C, 143 for SIGTERM and 129 for SIGHUP, ``saved`` the epoch whose
    state every network keeps in its run folder (``last.pt`` or ``diverged.pt``; 0: none), and
    ``sweep`` the manifest of a sweep that resumes as one (``fast.py``; None: none)."""

    def __init__(self, checkpoint: Path | None, epoch: int, epochs: int, networks: int = 1,
                 exit_status: int = 130, saved: int = 0, sweep: Path | None = None) -> None:
        super().__init__(f"interrupted after epoch {epoch}")
        self.checkpoint, self.epoch, self.epochs = checkpoint, epoch, epochs
        self.networks, self.exit_status = networks, exit_status
        self.saved, self.sweep = saved, sweep


class Trainer(Protocol):
    """What trains the networks of a run: SGD epochs and evaluation, nothing else."""

    name: str
    """"reference" or "fast", as recorded in each run's configuration."""
    description: str
    """The trainer in words, for a run's first line: "reference loop", "fast engine (compiled
    CPU loop)", …"""
    stops_at_first_divergence: bool
    """True: a NaN or infinite loss or weight ends the run at once, before its epoch is
    recorded. False: a network that diverges is recorded as it is and the others go on; the run
    ends when all have diverged."""
    logs_figures: bool
    """Whether TensorBoard gets, every epoch, weight and gradient histograms and the hidden
    units' weights as images, and at the end the test confusion matrix and misclassified
    digits."""

    def epoch(self, on_step: Callable[[Tensor], None]) -> Tensor:
        """One epoch of SGD of every network: its mini-batch losses (K, steps), on the CPU.
        ``on_step(loss)`` is called after each mini-batch where the trainer can."""

    def evaluate(self, data: DigitTensors) -> list[Evaluation]:
        """Each network's loss, confusion matrix and predictions on ``data``."""

    def models(self) -> list[MLP]:
        """The networks with their weights now."""


@dataclass
class Network:
    """One network of a run, as the driver follows it."""

    config: TrainConfig
    model: MLP  # the initial network (the trainer holds the weights while it trains)
    shuffle: torch.Generator  # draws its mini-batch order: one permutation per epoch
    result: TrainResult
    log: RunLog | None = None
    keeper: Keeper | None = None  # its checkpoints, with a run folder
    resumed: Kept = field(default_factory=Kept)  # the checkpoint it continues from

    @property
    def kept(self) -> Kept:
        """Its last good checkpoint: written, or to be written before the run stops."""
        return self.keeper.latest if self.keeper is not None else Kept()


Resume = str | os.PathLike
"""A checkpoint to resume from: its file, or its run folder."""
MakeTrainer = Callable[[list[Network], DigitTensors, torch.device], Trainer]
"""Builds a trainer for the networks, the training digits and the device."""


def fit(configs: Sequence[TrainConfig], make_trainer: MakeTrainer, *, model: MLP | None = None,
        resume: Resume | Sequence[Resume] | None = None,
        on_epoch: Callable[[int, list[EpochRecord]], None] | None = None,
        on_step: Callable[[StepInfo], None] | None = None, launch: Launch = ONE_PROCESS,
        write_runs: bool = True,
        on_folders: Callable[[list[TrainResult]], None] | None = None,
        on_start: Callable[[RunStart], None] | None = None) -> list[TrainResult]:
    """Train the networks that ``configs`` describe (each one network, or a grid of them: see
    ``TrainConfig.networks``; they may differ in ``lr`` and ``seed`` only) with the trainer that
    ``make_trainer`` builds, and return their results in the same order.

    Network s is initialised by ``torch.manual_seed(seed)`` and shuffled by its own generator
    seeded alike, whichever the trainer. ``model``: continue this network (one configuration);
    ``resume``: continue the run of a checkpoint or run folder (one per configuration, all at
    the same epoch) — in its run folder if the checkpoint lies in its own run's folder, else in
    a new one. ``on_epoch(epoch, records)`` gets the records of each epoch, ``on_step`` a
    ``StepInfo`` after each mini-batch (the reference trainer only), ``on_folders(results)``
    the results once every network has its run folder, ``on_start`` what the run trains and
    where (``RunStart``), both before the first epoch. ``launch``: where
    this process stands among several (the data is fetched by rank 0 first); ``write_runs``
    False: no run folder (the ranks of a data-parallel run but rank 0). Each run folder is
    locked (``checkpoints.RunLock``) while it is written.
    """
    configs, checkpoints = _checked(configs, model, resume)
    first = configs[0]
    device = resolve_device(first.device)
    check_memory(first, len(configs), device)
    if not write_runs:
        configs = [replace(config, log_dir=None) for config in configs]
        first = configs[0]
    with contextlib.ExitStack() as locks:
        homes: list[Path | None] = [None] * len(configs)
        if write_runs:  # before the data: a run folder that cannot be written fails at once
            homes, checkpoints = _run_folders(configs, checkpoints, locks)
        data = first_then_others(launch, lambda: load_mnist(
            first.data_dir, train_size=first.train_size, validation_size=first.validation_size))
        check_batch_size(first.batch_size, len(data.train))
        networks = [_network(config, model, checkpoint)
                    for config, checkpoint in zip(configs, checkpoints, strict=True)]
        splits = data.to(device).named()
        trainer = make_trainer(networks, splits["train"], device)
        try:
            _open_run_folders(networks, homes, locks, device, trainer.name)
            if on_folders is not None:
                on_folders([network.result for network in networks])
            if on_start is not None:
                on_start(RunStart(configs, trainer.description, device,
                                  why_device(first.device), len(networks[0].result.history) + 1))
            _train(networks, trainer, splits, on_epoch, on_step)
        finally:
            for network in networks:
                if network.log is not None:
                    network.log.close()
    return [network.result for network in networks]


def _train(networks: list[Network], trainer: Trainer, splits: dict[str, DigitTensors],
           on_epoch: Callable[[int, list[EpochRecord]], None] | None,
           on_step: Callable[[StepInfo], None] | None) -> None:
    """The epochs still to train, and the end of the run; on Ctrl-C, SIGTERM or a divergence,
    every checkpoint not yet written is written before the run stops."""
    epochs = networks[0].config.epochs
    try:
        for epoch in range(len(networks[0].result.history) + 1, epochs + 1):
            evaluations = _epoch(epoch, trainer, networks, splits, on_step)
            if on_epoch is not None:
                on_epoch(epoch, [n.result.history[-1] for n in networks])
            _stop_if_all_diverged(networks, epoch)
        _finish(networks, trainer, evaluations["test"], splits["test"])
    except KeyboardInterrupt as stop:
        _write_checkpoints(networks)
        kept = networks[0].kept
        saved = min(n.keeper.saved if n.keeper is not None else 0 for n in networks)
        raise TrainingInterrupted(kept.path, kept.epoch, epochs, len(networks),
                                  exit_status(stop), saved) from None
    except DivergenceError:
        _write_checkpoints(networks)
        raise


def _checked(configs: Sequence[TrainConfig], model: MLP | None,
             resume: Resume | Sequence[Resume] | None
             ) -> tuple[list[TrainConfig], Sequence[Checkpoint | None]]:
    """The configurations, checked (a given model brings its own architecture), and the
    checkpoint each resumes from (None: none), checked against it."""
    for config in configs:
        config.validate()
    configs = [network for config in configs for network in config.networks()]
    if not configs:
        raise ValueError("no configuration to train")
    if model is not None and resume is not None:
        raise ConfigError("give either a model to continue or a checkpoint to resume, not both")
    if model is not None and len(configs) > 1:
        raise ValueError("a model continues one network: give one configuration")
    if model is not None:
        configs = [replace(configs[0], **model.architecture())]
        configs[0].validate()
    differing = sorted(name for name, value in configs[0].shared().items()
                       if any(getattr(config, name) != value for config in configs))
    if differing:
        raise ValueError(f"the networks of one run differ only in {', '.join(PER_NETWORK)}, "
                         f"not in {', '.join(differing)}")
    if resume is None:
        return configs, [None] * len(configs)
    paths = [resume] if isinstance(resume, (str, os.PathLike)) else list(resume)
    if len(paths) != len(configs):
        raise ValueError("give one checkpoint to resume from for each configuration")
    checkpoints = [_resumable(path, config) for path, config in zip(paths, configs, strict=True)]
    if len({checkpoint.epoch for checkpoint in checkpoints}) > 1:
        raise ValueError("the networks of one run resume from the same epoch")
    return configs, checkpoints


def _resumable(path: Resume, config: TrainConfig) -> Checkpoint:
    """The checkpoint at ``path`` (a run folder: its ``last.pt``, else its ``best.pt``), checked
    to continue ``config``'s run; outside its run folder it may go on under another
    ``log_dir``."""
    checkpoint = load_checkpoint(path, prefer=(LAST, BEST))
    free = () if in_own_run_folder(checkpoint) else ("log_dir",)
    check_resumable(checkpoint, asdict(config), also_free=free)
    return checkpoint


def _run_folders(configs: list[TrainConfig], checkpoints: Sequence[Checkpoint | None],
                 locks: contextlib.ExitStack
                 ) -> tuple[list[Path | None], list[Checkpoint | None]]:
    """Where each network continues — its checkpoint's run folder if that is its own run's,
    locked, with the checkpoint read again under the lock (another writer may have gone on);
    None: a new run folder, made once the data has loaded (so that a data error leaves no
    empty run behind) — and the checkpoints. Every folder is checked to be writable."""
    homes: list[Path | None] = []
    resumed = list(checkpoints)
    for k, (config, checkpoint) in enumerate(zip(configs, checkpoints, strict=True)):
        if checkpoint is None or not in_own_run_folder(checkpoint):
            if config.log_dir and None not in homes:  # once
                check_writable(config.log_dir, "logs and checkpoints",
                               "choose another folder with --log-dir")
            homes.append(None)
            continue
        assert checkpoint.path is not None  # in its own run folder: it was read from a file
        home = check_writable(checkpoint.path.parent, "logs and checkpoints",
                              "make the run folder writable to resume in it")
        locks.callback(RunLock(home).release)
        resumed[k] = _resumable(checkpoint.path, config)
        homes.append(home)
    return homes, resumed


def _network(config: TrainConfig, model: MLP | None, checkpoint: Checkpoint | None) -> Network:
    """Network ``config.seed``: initialised from torch's generator seeded with it (or ``model``),
    its shuffling generator seeded alike; both as the checkpoint left them, if there is one."""
    torch.manual_seed(config.seed)
    if model is None:
        model = MLP(config.hidden_size, config.activation, config.output_activation, config.init)
    network = Network(config, model, torch.Generator().manual_seed(config.seed),
                      TrainResult(model, config))
    if checkpoint is not None:  # weights and both generators as they were after its epoch
        restore(checkpoint, model, network.shuffle)
        network.result.history = checkpoint.records()
        if checkpoint.path is None or checkpoint.path.name != DIVERGED:  # a good checkpoint
            network.resumed = Kept(checkpoint.path, checkpoint.epoch)
    return network


def _open_run_folders(networks: list[Network], homes: list[Path | None],
                      locks: contextlib.ExitStack, device: torch.device, engine: str) -> None:
    """Give each network its run folder (``homes``: the resumed run's, locked; None: a new one,
    locked here) and TensorBoard log."""
    for network, home in zip(networks, homes, strict=True):
        config, result = network.config, network.result
        result.run_dir = home
        if home is None and config.log_dir:
            result.run_dir = create_run_dir(config.log_dir, run_name(asdict(config)))
            locks.callback(RunLock(result.run_dir).release)
            if network.resumed.path is not None:
                warnings.warn(f"{network.resumed.path} is not in its own run's folder (no "
                              f"config.json of its run beside it): the run continues in a new "
                              f"run folder, {result.run_dir}, and writes nothing beside it",
                              stacklevel=3)
        if result.run_dir is not None:
            network.log = RunLog(result.run_dir, asdict(config) | {"device": str(device),
                                                                   "engine": engine})
            network.keeper = Keeper(result.run_dir, config.checkpoint_every, network.resumed,
                                    saved=len(result.history))


def _epoch(epoch: int, trainer: Trainer, networks: list[Network],
           splits: dict[str, DigitTensors], on_step: Callable[[StepInfo], None] | None
           ) -> dict[str, list[Evaluation]]:
    """Train one epoch, then evaluate, record, checkpoint and log each network; returns the
    evaluations on every split."""
    steps = steps_per_epoch(len(splits["train"]), networks[0].config.batch_size)
    start = time.perf_counter()
    losses = trainer.epoch(_step_callback(networks[0], epoch, steps, on_step))
    seconds = time.perf_counter() - start  # the losses are on the CPU: the epoch is done
    models = trainer.models()
    minibatch_losses = losses.mean(dim=1).tolist()
    finite = [is_finite(m, loss) for m, loss in zip(models, minibatch_losses, strict=True)]
    if trainer.stops_at_first_divergence and not all(finite):
        network = networks[finite.index(False)]
        raise _divergence(network, minibatch_losses[finite.index(False)], epoch)
    evaluations = {split: trainer.evaluate(data) for split, data in splits.items()}
    with signals_held():  # the epoch is recorded and kept for every network, or for none
        for k, (network, model) in enumerate(zip(networks, models, strict=True)):
            record = _record(epoch, minibatch_losses[k], seconds,
                             {split: evaluation[k] for split, evaluation in evaluations.items()},
                             weights_finite=finite[k])
            network.result.history.append(record)
            _keep(network, model, not record.diverged)
            if record.diverged and not any(r.diverged for r in network.result.history[:-1]):
                _warn_diverged(network, record, finite[k])
            if network.log is not None:
                network.log.epoch(record)
                network.log.running_loss(losses[k].tolist(), epoch, network.config.log_every)
                if trainer.logs_figures:
                    network.log.model(model, epoch)
                network.log.flush()
    return evaluations


def _keep(network: Network, model: MLP, finite: bool) -> None:
    """Capture the network's state after its latest epoch, for its checkpoints (a diverged
    network's as ``diverged.pt``)."""
    if network.keeper is not None:
        history = network.result.history
        network.keeper.after_epoch(capture(model, asdict(network.config), history,
                                           network.shuffle), best=is_new_best(history),
                                   final=len(history) == network.config.epochs, finite=finite)


def _write_checkpoints(networks: list[Network]) -> None:
    """Write every network's checkpoints not yet written: the run stops before they are due."""
    for network in networks:
        if network.keeper is not None:
            network.keeper.write()


def _record(epoch: int, minibatch_loss: float, seconds: float,
            evaluations: dict[str, Evaluation], weights_finite: bool) -> EpochRecord:
    """The epoch's record of one network, from its evaluation on each split: diverged when a
    weight or the loss of any split (its outputs) is NaN or infinite."""
    measured = {f"{split}_{kind}": getattr(evaluation, kind)
                for split, evaluation in evaluations.items() for kind in ("loss", "accuracy")}
    outputs_finite = all(math.isfinite(e.loss) for e in evaluations.values())
    return EpochRecord(epoch, minibatch_loss, seconds, **measured,
                       diverged=not (weights_finite and outputs_finite))


def _step_callback(network: Network, epoch: int, steps: int,
                   on_step: Callable[[StepInfo], None] | None) -> Callable[[Tensor], None]:
    """What runs after each mini-batch of the reference loop: every ``DIVERGENCE_CHECK_STEPS``
    steps a look for NaN, and the caller's ``on_step``."""
    step = 0

    def after_step(loss: Tensor) -> None:
        nonlocal step
        step += 1
        if step % DIVERGENCE_CHECK_STEPS == 0 and not math.isfinite(loss.item()):
            raise _divergence(network, loss.item(), epoch)
        if on_step is not None:
            on_step(StepInfo(epoch, step, steps, loss))

    return after_step


def is_finite(model: MLP, loss: float) -> bool:
    """Whether the loss and every weight are finite numbers (no NaN, no infinity)."""
    return math.isfinite(loss) and all(bool(p.isfinite().all()) for p in model.parameters())


def _divergence(network: Network, loss: float, epoch: int) -> DivergenceError:
    """The error for a network whose loss became ``loss`` in ``epoch``, naming its last good
    checkpoint (written before the diverged epoch, which is never saved)."""
    kept = f"; the last good checkpoint is {network.kept.path}" if network.kept.path else ""
    return DivergenceError(f"the training loss became {loss} in epoch {epoch} (lr "
                           f"{network.config.lr:g}): gradient descent diverged; try a smaller "
                           f"--lr{kept}")


def _warn_diverged(network: Network, record: EpochRecord, weights_finite: bool) -> None:
    """Say which network diverged, and what it keeps (the others go on)."""
    kept = (f"its run folder keeps the checkpoint of epoch {network.kept.epoch} "
            f"({network.kept.path})" if network.kept.path else "it has no checkpoint")
    weights = "" if weights_finite else ", weights NaN or infinite"
    warnings.warn(f"the network with lr {network.config.lr:g} and seed {network.config.seed} "
                  f"diverged in epoch {record.epoch} (training loss {record.train_loss}"
                  f"{weights}); {kept}", stacklevel=2)


def _stop_if_all_diverged(networks: list[Network], epoch: int) -> None:
    """``DivergenceError`` when no network is left that has not diverged."""
    if all(network.result.history[-1].diverged for network in networks):
        lrs = ", ".join(f"{lr:g}" for lr in dict.fromkeys(n.config.lr for n in networks))
        raise DivergenceError(f"every network diverged in epoch {epoch} (a NaN or infinite "
                              f"loss or weight; lr {lrs}): try a smaller --lr")


def _finish(networks: list[Network], trainer: Trainer, test: list[Evaluation],
            test_data: DigitTensors) -> None:
    """Each network's final model and test report, and the end of its TensorBoard log."""
    for network, model, evaluation in zip(networks, trainer.models(), test, strict=True):
        result = network.result
        result.model = model
        result.metrics = classification_report(evaluation.confusion)
        if network.log is None:
            continue
        if trainer.logs_figures:
            assert evaluation.predictions is not None  # this trainer's evaluations keep them
            network.log.test_figures(test_data.images, test_data.labels, evaluation.predictions,
                                     evaluation.confusion, network.config.epochs)
        network.log.finish({"test_accuracy": result.metrics.accuracy,
                            "test_loss": result.history[-1].test_loss})
