"""The training driver (``fit``): one run of K networks, whatever trains them.

    check the settings ─ device ─ run folders ─ data ─ networks (seed, initialise, resume)
    for each epoch: trainer.epoch() (SGD) ─ divergence ─ evaluate the splits (the training
                    set every ``evaluate_train_every`` epochs and the last) ─
                    record, checkpoint, TensorBoard for each network
    the final test report; Ctrl-C: ``TrainingInterrupted``

A ``Trainer`` (the reference loop, ``reference.py``, or the fused engine, ``fast.py``) only runs
the SGD epochs and evaluates; where the two differ on purpose, it is a named property.
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

DIVERGENCE_CHECK_STEPS = 100  # the reference loop's loss is checked for NaN this often


class DivergenceError(UserError):
    """The loss became NaN or infinite; the message says when and what to try."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C, SIGTERM or SIGHUP during training; its fields: docs/training.md#interrupted."""

    def __init__(self, checkpoint: Path | None, epoch: int, epochs: int, networks: int = 1,
                 exit_status: int = 130, saved: int = 0, sweep: Path | None = None) -> None:
        super().__init__(f"interrupted after epoch {epoch}")
        self.checkpoint, self.epoch, self.epochs = checkpoint, epoch, epochs
        self.networks, self.exit_status = networks, exit_status
        self.saved, self.sweep = saved, sweep


class Trainer(Protocol):
    """What trains the networks of a run: SGD epochs and evaluation, nothing else."""

    name: str  # "reference" or "fast", as each run's configuration records it
    description: str  # in words, for a run's first line: "reference loop", …
    # True: a NaN or infinite loss or weight ends the run before its epoch is recorded; False:
    # a diverged network is recorded as it is, the others go on until all have diverged
    stops_at_first_divergence: bool
    logs_figures: bool  # histograms and images every epoch, the test figures at the end

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


Resume = str | os.PathLike  # a checkpoint to resume from: its file, or its run folder
MakeTrainer = Callable[[list[Network], DigitTensors, torch.device], Trainer]


def fit(configs: Sequence[TrainConfig], make_trainer: MakeTrainer, *, model: MLP | None = None,
        resume: Resume | Sequence[Resume] | None = None,
        on_epoch: Callable[[int, list[EpochRecord]], None] | None = None,
        on_step: Callable[[StepInfo], None] | None = None, launch: Launch = ONE_PROCESS,
        write_runs: bool = True,
        on_folders: Callable[[list[TrainResult]], None] | None = None,
        on_start: Callable[[RunStart], None] | None = None) -> list[TrainResult]:
    """Train the networks of ``configs`` (differing in ``lr`` and ``seed`` only) with the
    trainer ``make_trainer`` builds; their results, in order. Network s is initialised by
    ``torch.manual_seed(s)`` and shuffled by a generator seeded alike, whichever the trainer.
    ``model``: continue it; ``resume``: a checkpoint or run folder per network (one epoch);
    ``on_epoch(epoch, records)``, ``on_step`` (reference only), ``on_folders(results)`` and
    ``on_start`` (``RunStart``); ``launch``: rank 0 fetches the data first; ``write_runs`` False:
    no run folder. The parameters in full: docs/training.md#the-training-driver."""
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
    """The epochs still to train, then the end; a stop writes the checkpoints not yet due."""
    epochs = networks[0].config.epochs
    try:
        for epoch in range(len(networks[0].result.history) + 1, epochs + 1):
            evaluations = _epoch(epoch, trainer, networks, splits, on_step)
            if on_epoch is not None:
                on_epoch(epoch, [n.result.history[-1] for n in networks])
            _stop_if_all_diverged(networks, epoch)
        _finish(networks, trainer, evaluations["test"], splits["test"])
    except (KeyboardInterrupt, DivergenceError) as stop:
        for network in networks:  # the checkpoints not yet due
            if network.keeper is not None:
                network.keeper.write()
        if isinstance(stop, DivergenceError):
            raise
        kept = networks[0].kept
        saved = min(n.keeper.saved if n.keeper is not None else 0 for n in networks)
        raise TrainingInterrupted(kept.path, kept.epoch, epochs, len(networks),
                                  exit_status(stop), saved) from None


def _checked(configs: Sequence[TrainConfig], model: MLP | None,
             resume: Resume | Sequence[Resume] | None
             ) -> tuple[list[TrainConfig], Sequence[Checkpoint | None]]:
    """The networks' configurations, checked, and the checkpoint each resumes from (or None)."""
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
    """The checkpoint at ``path`` (a folder: its last.pt, else best.pt), checked to continue."""
    checkpoint = load_checkpoint(path, prefer=(LAST, BEST))
    free = () if in_own_run_folder(checkpoint) else ("log_dir",)
    check_resumable(checkpoint, asdict(config), also_free=free)
    return checkpoint


def _run_folders(configs: list[TrainConfig], checkpoints: Sequence[Checkpoint | None],
                 locks: contextlib.ExitStack
                 ) -> tuple[list[Path | None], list[Checkpoint | None]]:
    """Where each network continues: its own run's folder, locked, its checkpoint read again
    under the lock (another writer may have gone on); or None, a new folder made after the data
    loads (a data error leaves no empty run). Every folder is checked to be writable."""
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
    """Network ``config.seed``: initialised from torch seeded with it (or ``model``), its
    shuffling generator seeded alike; both as the checkpoint left them, if any."""
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
    """Each network's run folder (``homes``; None: a new one, locked here) and log."""
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
    """Train one epoch, evaluate, record, checkpoint and log each network; the evaluations."""
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
    config = networks[0].config
    train_due = epoch % config.evaluate_train_every == 0 or epoch == config.epochs
    evaluations = {split: trainer.evaluate(data) for split, data in splits.items()
                   if split != "train" or train_due}
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
    """Capture the state after its latest epoch for its checkpoints (diverged: ``diverged.pt``)."""
    if network.keeper is not None:
        history = network.result.history
        network.keeper.after_epoch(capture(model, asdict(network.config), history,
                                           network.shuffle), best=is_new_best(history),
                                   final=len(history) == network.config.epochs, finite=finite)


def _record(epoch: int, minibatch_loss: float, seconds: float,
            evaluations: dict[str, Evaluation], weights_finite: bool) -> EpochRecord:
    """A network's record of the epoch: diverged where a weight or a split's loss is not finite
    (a split not evaluated this epoch, the training set, recorded as None)."""
    measured = {"train_loss": None, "train_accuracy": None} | {
        f"{split}_{kind}": getattr(evaluation, kind)
        for split, evaluation in evaluations.items() for kind in ("loss", "accuracy")}
    outputs_finite = all(math.isfinite(e.loss) for e in evaluations.values())
    return EpochRecord(epoch, minibatch_loss, seconds, **measured,
                       diverged=not (weights_finite and outputs_finite))


def _step_callback(network: Network, epoch: int, steps: int,
                   on_step: Callable[[StepInfo], None] | None) -> Callable[[Tensor], None]:
    """After each reference step: a look for NaN every ``DIVERGENCE_CHECK_STEPS``, ``on_step``."""
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
    """The error for a loss that became ``loss``, naming the last good checkpoint."""
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
                  f"diverged in epoch {record.epoch} (training loss {record.training_loss}"
                  f"{weights}); {kept}", stacklevel=2)


def _stop_if_all_diverged(networks: list[Network], epoch: int) -> None:
    """``DivergenceError`` when no network is left that has not diverged."""
    if all(network.result.history[-1].diverged for network in networks):
        lrs = ", ".join(f"{lr:g}" for lr in dict.fromkeys(n.config.lr for n in networks))
        raise DivergenceError(f"every network diverged in epoch {epoch} (a NaN or infinite "
                              f"loss or weight; lr {lrs}): try a smaller --lr")


def _finish(networks: list[Network], trainer: Trainer, test: list[Evaluation],
            test_data: DigitTensors) -> None:
    """Each network's final model, test report and the end of its log."""
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
