"""What a run keeps in its run folder to continue exactly where it stopped:

* ``Checkpoint``, ``save_checkpoint``, ``load_checkpoint``: a checkpoint file, written atomically,
  read with ``weights_only`` and checked before anything is allocated from it;
* ``build_model``, ``restore``, ``check_resumable``, ``resume_config``: a network, a run or its
  configuration back from a checkpoint; ``in_own_run_folder``: whether it continues in place;
* ``Keeper``: ``last.pt``, ``best.pt`` and ``diverged.pt`` of one network as its run goes;
* ``RunLock``: one writer per run folder, the file ``RUN/.lock``.

The file format, when checkpoints are written, and the lock's protocol: docs/guarantees.md.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import socket
import stat
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import ConfigError, UserError
from ..files import (
    FILE,
    FolderError,
    JSONFileError,
    examine,
    read_json,
    signals_held,
    write_atomically,
)
from ..textbook.activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from ..textbook.model import INITS, INPUT_SIZE, MLP, NUM_CLASSES
from ..textbook.names import LOSS_NAMES, RENAMED
from .config import TrainConfig
from .records import EpochRecord

FORMAT = "mnist-mlp checkpoint"
VERSION = 1
LAST = "last.pt"  # the checkpoint of the last completed epoch, in the run folder
BEST = "best.pt"  # the epoch with the best validation accuracy so far
DIVERGED = "diverged.pt"  # a sweep's diverged network after its last epoch (last.pt: last good)
ARCHITECTURE = ("hidden_size", "activation", "output_activation")  # fixed for a run
# The settings that a resumed run may change; all others must stay as they were.
FREE_ON_RESUME = ("epochs", "device", "data_dir", "log_every", "checkpoint_every",
                  "evaluate_train_every")


class CheckpointError(UserError):
    """A checkpoint that is missing, unreadable, invalid or does not fit; one-line message."""


def _invalid(where: object, problem: str) -> CheckpointError:
    """The error for a file (or data) that is not a valid checkpoint, and why."""
    return CheckpointError(f"{where} is not a valid mnist-mlp checkpoint: {problem}")


@dataclass
class Checkpoint:
    """The contents of one checkpoint file, and the path it was read from (None if not saved)."""

    epoch: int
    model_config: dict[str, Any]
    model_state: dict[str, Tensor]
    lr: float
    rng: dict[str, Tensor]
    history: list[dict[str, float]]
    config: dict[str, Any]
    path: Path | None = field(default=None, compare=False)

    def records(self) -> list[EpochRecord]:
        """The history as epoch records; ``CheckpointError`` if it is malformed."""
        try:
            records = [EpochRecord.from_dict(record) for record in self.history]
            if [r.epoch for r in records] != list(range(1, len(records) + 1)):
                raise ValueError("its epochs are not 1, 2, …")
            return records
        except (KeyError, TypeError, ValueError) as error:
            raise _invalid(self.path, f"its history is malformed ({error})") from None

    @property
    def architecture(self) -> str:
        """The network in words, e.g. ``784-30-10 (sigmoid hidden, softmax output)``."""
        return describe_architecture(self.model_config)

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint as the plain dict written to disk (docs/guarantees.md)."""
        return {"format": FORMAT, "version": VERSION, "epoch": self.epoch,
                "model": {"config": self.model_config, "state": self.model_state},
                "optimizer": {"lr": self.lr}, "rng": self.rng, "history": self.history,
                "config": self.config}

    @classmethod
    def from_dict(cls, data: Any, path: Path | None = None) -> Checkpoint:
        """``data`` as a ``Checkpoint``, its layout checked, or ``CheckpointError`` saying what."""
        where = path if path is not None else "the data"
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise _invalid(where, f"no {FORMAT!r} marker; give a last.pt or best.pt of a run")
        if data.get("version") != VERSION:
            raise CheckpointError(f"{where} is a checkpoint of format version "
                                  f"{data.get('version')!r}; this mnist-mlp reads version "
                                  f"{VERSION}")
        try:
            model, optimizer, rng = data["model"], data["optimizer"], data["rng"]
            checkpoint = cls(epoch=data["epoch"], model_config=model["config"],
                             model_state=model["state"], lr=optimizer["lr"],
                             rng={"torch": rng["torch"], "shuffle": rng["shuffle"]},
                             history=data["history"], config=renamed(data["config"]),
                             path=path)
        except (KeyError, TypeError) as error:
            raise _invalid(where, f"its entry {error} is missing or malformed") from None
        problem = _problem(checkpoint)
        if problem:
            raise _invalid(where, problem)
        checkpoint.records()  # the history, checked
        return checkpoint


def renamed(config: Any) -> Any:
    """A saved training configuration with today's names (``RENAMED``: ``cross_entropy``…)."""
    if isinstance(config, dict) and isinstance(config.get("loss"), str):
        return config | {"loss": RENAMED.get(config["loss"], config["loss"])}
    return config


def _problem(c: Checkpoint) -> str | None:
    """What is malformed (None: nothing) before anything is allocated: known settings, weights of
    the shapes they give, so that rebuilding allocates no more than the file holds."""
    if not (isinstance(c.model_state, dict) and isinstance(c.model_config, dict)
            and isinstance(c.config, dict) and isinstance(c.history, list)):
        return "its model state, configuration or history is malformed"
    if not (all(_plain(v) and v.dtype == torch.uint8 and v.dim() == 1 for v in c.rng.values())):
        return "its RNG states are not byte tensors"
    if "loss" in c.config and c.config["loss"] not in LOSS_NAMES:
        return f"its loss {c.config['loss']!r} is not one of {', '.join(LOSS_NAMES)}"
    if isinstance(c.epoch, bool) or not isinstance(c.epoch, int) or c.epoch != len(c.history):
        return f"its epoch {c.epoch!r} does not match its history of {len(c.history)} epochs"
    if isinstance(c.lr, bool) or not isinstance(c.lr, (int, float)) or not 0 < c.lr < math.inf:
        return f"its learning rate {c.lr!r} is not a positive number"
    config, state = c.model_config, c.model_state
    hidden = config.get("hidden_size")
    if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
        return f"its hidden_size {hidden!r} is not a positive integer"
    for name, choices in (("activation", HIDDEN_ACTIVATIONS),
                          ("output_activation", OUTPUT_ACTIVATIONS), ("init", INITS)):
        if config.get(name) not in choices:
            return f"its {name} {config.get(name)!r} is not one of {', '.join(choices)}"
    shapes = {"hidden.weight": (hidden, INPUT_SIZE), "hidden.bias": (hidden,),
              "output.weight": (NUM_CLASSES, hidden), "output.bias": (NUM_CLASSES,)}
    if sorted(state) != sorted(shapes) or not all(
            _plain(state[n]) and state[n].is_floating_point()
            and tuple(state[n].shape) == shape for n, shape in shapes.items()):
        return (f"its weights ({describe_weights(state)}) are not those of the 784-{hidden}-10 "
                "network it claims")
    return None


def _plain(value: object) -> bool:
    """Whether ``value`` is an ordinary tensor: dense, its numbers in memory (not sparse, not a
    shape on the meta device), which is all a checkpoint holds."""
    return (isinstance(value, Tensor) and value.layout == torch.strided
            and value.device.type == "cpu")


def describe_architecture(config: Mapping[str, Any]) -> str:
    """``784-l-10 (φ hidden, ψ output)`` from a model or training configuration."""
    return (f"784-{config.get('hidden_size')}-10 ({config.get('activation')} hidden, "
            f"{config.get('output_activation')} output)")


def describe_weights(state: dict[str, Tensor]) -> str:
    """The shape of the network that a state dict's weights belong to, in words."""
    hidden, output = state.get("hidden.weight"), state.get("output.weight")
    if hidden is not None and output is not None and hidden.dim() == output.dim() == 2:
        return f"{hidden.shape[1]}-{hidden.shape[0]}-{output.shape[0]}"
    names = ", ".join(list(state)[:4]) + (", …" if len(state) > 4 else "")
    return f"another network (parameters {names or 'none'})"


def capture(model: MLP, config: dict[str, Any], history: list[EpochRecord],
            shuffle: torch.Generator) -> Checkpoint:
    """A run's state after an epoch: weights (a CPU copy), RNG states, history (η: ``config``'s)."""
    state = {name: value.detach().to("cpu", copy=True)
             for name, value in model.state_dict().items()}
    return Checkpoint(epoch=len(history), model_config=dict(model.architecture()),
                      model_state=state, lr=config["lr"],
                      rng={"torch": torch.get_rng_state(), "shuffle": shuffle.get_state()},
                      history=[record.to_dict() for record in history], config=dict(config))


def build_model(checkpoint: Checkpoint) -> MLP:
    """The checkpoint's network: ``MLP(**model_config)`` with its weights loaded (on the CPU)."""
    try:
        model = MLP(**checkpoint.model_config)
    except (TypeError, ValueError) as error:
        raise _invalid(checkpoint.path, f"its network cannot be built ({error})") from None
    load_weights(model, checkpoint)
    return model


def load_weights(model: MLP, checkpoint: Checkpoint) -> None:
    """Copy the checkpoint's weights into ``model``; ``CheckpointError`` naming both if unfit."""
    expected = {name: tuple(value.shape) for name, value in model.state_dict().items()}
    found = {name: tuple(value.shape) for name, value in checkpoint.model_state.items()}
    here: Mapping[str, object] = model.architecture()
    saved = checkpoint.model_config
    if expected != found or any(here[name] != saved.get(name) for name in ARCHITECTURE):
        held = (describe_architecture(saved) if found == expected
                else describe_weights(checkpoint.model_state))
        raise CheckpointError(f"{checkpoint.path} holds the weights of a {held} network, but "
                              f"the network here is {describe_architecture(here)}; "
                              "use a checkpoint of this architecture")
    model.load_state_dict(checkpoint.model_state)


def restore(checkpoint: Checkpoint, model: MLP, shuffle: torch.Generator) -> None:
    """Put a run back in the state the checkpoint recorded: weights and both RNG states."""
    load_weights(model, checkpoint)
    try:
        torch.set_rng_state(checkpoint.rng["torch"])
        shuffle.set_state(checkpoint.rng["shuffle"])
    except (RuntimeError, TypeError) as error:
        raise _invalid(checkpoint.path, f"its RNG states cannot be restored ({error})") from None


def check_resumable(checkpoint: Checkpoint, config: dict[str, Any],
                    also_free: tuple[str, ...] = ()) -> None:
    """Refuse a configuration that would not continue the same run: the architecture and every
    setting but ``FREE_ON_RESUME`` (and ``also_free``) as saved, more ``epochs`` than trained."""
    saved = checkpoint.config
    if any(config.get(name) != saved.get(name) for name in ARCHITECTURE):
        raise CheckpointError(f"{checkpoint.path} holds a {describe_architecture(saved)} "
                              f"network, but the options ask for "
                              f"{describe_architecture(config)}; resume without changing the "
                              "architecture, or start a new run")
    free = FREE_ON_RESUME + also_free
    changed = [name for name in config
               if name not in free and name in saved and config[name] != saved[name]]
    if changed:
        settings = ", ".join(f"{name} {saved[name]!r} (asked {config[name]!r})"
                             for name in changed)
        raise CheckpointError(f"cannot change settings of the run in {checkpoint.path} when "
                              f"resuming: it was trained with {settings}; resume with its own "
                              "settings (only --epochs, --device, --data-dir may change)")
    if config["epochs"] <= checkpoint.epoch:
        raise CheckpointError(f"{checkpoint.path} has already trained {checkpoint.epoch} of "
                              f"{config['epochs']} epochs; to train longer, resume with "
                              f"--epochs above {checkpoint.epoch}")


def is_new_best(history: list[EpochRecord]) -> bool:
    """Whether the last epoch's validation accuracy beats every earlier one (False: none)."""
    last = history[-1].validation_accuracy if history else None
    if last is None:
        return False
    earlier = [accuracy for record in history[:-1]  # (a run validates every epoch, or none)
               if (accuracy := record.validation_accuracy) is not None]
    return not earlier or last > max(earlier)


def save_checkpoint(checkpoint: Checkpoint, path: str | os.PathLike) -> Path:
    """Write the checkpoint to ``path`` atomically: the old file or the whole new one stays."""
    path = Path(path)
    try:
        write_atomically(path, lambda file: _save(checkpoint.to_dict(), file))
    except OSError as error:
        raise CheckpointError(f"cannot write checkpoint {path}: {error.strerror or error}"
                              ) from None
    checkpoint.path = path
    return path


def _save(data: dict[str, Any], file: Any) -> None:
    """``torch.save``, whose zip writer turns a failed write (a full disk) into a RuntimeError."""
    try:
        torch.save(data, file)
    except RuntimeError:
        raise OSError(errno.EIO, "the write failed midway (is the disk full?)") from None


def find_checkpoint(path: str | os.PathLike, prefer: tuple[str, ...] = (BEST, LAST)) -> Path:
    """``path`` itself if it is a file; for a run folder, the first of ``prefer`` in it."""
    path, fix = Path(path), "give a run folder (e.g. runs/<name>) or its last.pt or best.pt"
    status = examine(path, "the checkpoint", fix, error=CheckpointError)
    if status is None:
        raise CheckpointError(f"no checkpoint at {path}: no such file or folder; {fix}")
    if stat.S_ISDIR(status.st_mode):
        for name in prefer:
            if examine(path / name, "the checkpoint", fix, FILE, CheckpointError) is not None:
                return path / name
        raise CheckpointError(f"no checkpoint in {path} (looked for {' and '.join(prefer)}); "
                              "give a run folder written by training (runs/<name>) or a .pt file")
    # a file, not a FIFO or a device: nothing whose reading could hang or never end
    examine(path, "the checkpoint", fix, FILE, CheckpointError)
    return path


def load_checkpoint(path: str | os.PathLike, prefer: tuple[str, ...] = (BEST, LAST)
                    ) -> Checkpoint:
    """The checkpoint at ``path`` (a file, or a run folder: the first of ``prefer`` in it), read
    with ``weights_only=True`` and checked; ``CheckpointError`` for every problem, naming the
    run's other checkpoint if the file is damaged and that one intact."""
    file = find_checkpoint(path, prefer)
    try:
        return _read(file)
    except CheckpointError as error:
        raise CheckpointError(f"{error}{_intact_sibling(file)}") from None


def _read(file: Path) -> Checkpoint:
    try:
        with warnings.catch_warnings():  # e.g. on the pickle protocol: not for the user
            warnings.simplefilter("ignore")
            data = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:  # refused by weights_only, or bytes torch.load cannot parse
        if isinstance(error, OSError) and not _readable(file):
            raise CheckpointError(f"cannot read checkpoint {file}: {error.strerror or error}"
                                  ) from None
        raise _invalid(file, f"{_refusal(file)}; give a last.pt or best.pt of a run") from None
    return Checkpoint.from_dict(data, file)


def _readable(file: Path) -> bool:
    """Whether ``file``'s bytes can be read (else torch's complaint is the file system's)."""
    try:
        with file.open("rb") as opened:
            while opened.read(1 << 20):
                pass
        return True
    except OSError:
        return False


def _intact_sibling(file: Path) -> str:
    """For a damaged ``last.pt``, a pointer to an intact ``best.pt`` (and the other way round)."""
    if file.name not in (LAST, BEST):
        return ""
    sibling = file.with_name(BEST if file.name == LAST else LAST)
    try:
        epoch = _read(sibling).epoch if sibling.is_file() else None
    except CheckpointError:
        epoch = None
    return "" if epoch is None else f"; {sibling} (epoch {epoch}) is intact: give that one"


LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19."  # how torch.save's pre-1.6 files begin


def _refusal(file: Path) -> str:
    """Why ``torch.load(file, weights_only=True)`` failed, as far as can be told safely."""
    with file.open("rb") as opened:
        start = opened.read(len(LEGACY_MAGIC))
    objects = "Python objects other than tensors and plain data, which are never loaded"
    if zipfile.is_zipfile(file):  # torch.save's format, but with more than plain data inside
        return f"it holds {objects}"
    if start.startswith(b"PK\x03\x04"):
        return "it is cut short or damaged (a torch.save file whose end is missing)"
    if start == LEGACY_MAGIC:
        return f"it is in torch.save's legacy format and holds {objects}"
    return "it is not a file written by torch.save (nothing in it was loaded)"


def config_of(saved: Checkpoint) -> TrainConfig:
    """The configuration saved with a checkpoint — its network's own — checked."""
    unknown = set(saved.config) - {f.name for f in fields(TrainConfig)}
    if unknown:
        raise CheckpointError(f"{saved.path} has settings this mnist-mlp does not know: "
                              f"{', '.join(sorted(unknown))}")
    config = TrainConfig(**saved.config)
    try:
        config.validate()
    except ConfigError as error:
        raise CheckpointError(f"{saved.path} holds an impossible setting: {error}") from None
    if len(config.networks()) != 1:
        raise CheckpointError(f"{saved.path} holds the settings of {len(config.networks())} "
                              "networks, not of the one network it keeps")
    return config.networks()[0]


def resume_config(path: str | os.PathLike, **changes) -> TrainConfig:
    """The configuration saved with the checkpoint at ``path`` (a run folder: its ``last.pt``,
    else its ``best.pt``), with ``changes``, e.g. ``resume_config("runs/…", epochs=40)``."""
    return replace(config_of(load_checkpoint(path, prefer=(LAST, BEST))), **changes)


CONFIG = "config.json"  # the run's configuration, in its run folder


def in_own_run_folder(checkpoint: Checkpoint) -> bool:
    """Whether ``checkpoint`` lies in its own run's folder, whose ``config.json`` holds its
    settings (but those a resume may change); not a copy, say a ``best.pt`` in Downloads."""
    if checkpoint.path is None:
        return False
    try:
        written = read_json(checkpoint.path.parent / CONFIG, 1 << 20)
    except JSONFileError:
        return False
    written = renamed(written)  # a run of before 0.2 may say cross_entropy
    return isinstance(written, dict) and all(
        written.get(name) == value for name, value in checkpoint.config.items()
        if name not in FREE_ON_RESUME)


@dataclass(frozen=True)
class Kept:
    """A checkpoint on disk: its path (None: none yet) and its epoch."""

    path: Path | None = None
    epoch: int = 0


class Keeper:
    """The checkpoints of one network in ``run_dir``; ``kept`` is its ``last.pt`` on disk. When
    each is written: docs/guarantees.md."""

    def __init__(self, run_dir: Path, every: int, kept: Kept = Kept(), saved: int = 0) -> None:
        self.run_dir, self.every, self.kept = run_dir, every, kept
        self.saved = saved  # the epoch of the latest state written (last.pt or diverged.pt)
        self.last: Checkpoint | None = None  # captured, not yet written…
        self.best: Checkpoint | None = None  # …and the best epoch's, not yet written
        self.lost: Checkpoint | None = None  # …and a diverged network's state

    def after_epoch(self, checkpoint: Checkpoint, best: bool, final: bool,
                    finite: bool = True) -> None:
        """Take a completed epoch's checkpoint (``best`` by validation accuracy; ``finite``
        False: as ``diverged.pt``); write it if due (``final``: the run's last epoch)."""
        if not finite:
            self.lost = checkpoint
        else:
            self.last = checkpoint
            if best:
                self.best = checkpoint
        if final or checkpoint.epoch % self.every == 0:
            self.write()

    @property
    def latest(self) -> Kept:
        """The last good epoch, written or about to be (``write`` runs before a run stops)."""
        if self.last is not None:
            return Kept(self.run_dir / LAST, self.last.epoch)
        return self.kept

    def write(self) -> None:
        """Write what is captured and not written yet: ``best.pt``, ``last.pt``, ``diverged.pt``."""
        with signals_held():
            try:
                if self.best is not None:
                    save_checkpoint(self.best, self.run_dir / BEST)
                if self.last is not None:
                    self.kept = Kept(save_checkpoint(self.last, self.run_dir / LAST),
                                     self.last.epoch)
                    self.saved = self.last.epoch
                if self.lost is not None:
                    save_checkpoint(self.lost, self.run_dir / DIVERGED)
                    self.saved = self.lost.epoch
            except CheckpointError as error:  # a full disk, a folder gone read-only
                raise CheckpointError(f"{error}; {kept_in(self.run_dir)}; free some space or "
                                      f"make {self.run_dir} writable, then resume the run in it "
                                      "with --resume") from None
            self.last = self.best = self.lost = None


def kept_in(run_dir: Path) -> str:
    """What a run folder keeps, in words (after a checkpoint could not be written)."""
    kept = []
    for name in (LAST, BEST):
        with contextlib.suppress(CheckpointError):
            kept.append(f"{name} (epoch {load_checkpoint(run_dir / name).epoch})")
    return f"{run_dir} keeps {' and '.join(kept) if kept else 'no checkpoint'}"


LOCK = ".lock"  # the lock file in a run folder


class RunLockedError(UserError):
    """Another process writes the run folder; the message names it and what to do."""


class RunLock:
    """The lock of one run folder, ``RUN/.lock``, held by this process (``release`` lets it go).
    Its protocol, stale-lock takeover included: docs/guarantees.md."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK
        self.mine = {"pid": os.getpid(), "host": socket.gethostname(),
                     "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        if not _create(self.path, self.mine):
            self._take_over()

    def _take_over(self) -> None:
        """Take the lock from a process that is gone, said once; else ``RunLockedError``."""
        holder = _holder(self.path)
        if holder is None:  # being written this very moment, or damaged: never taken
            raise RunLockedError(f"{self.path.parent} is locked by another writer, whose lock "
                                 "cannot be read; if no run writes this folder, remove "
                                 f"{self.path}")
        if _alive(holder):
            raise RunLockedError(f"{self.path.parent} is being written by {_who(holder)}; "
                                 "wait until it ends (or stop it) before writing the run "
                                 f"folder again (if no such run is going on, remove {self.path})")
        guard = self.path.with_name(LOCK + ".takeover")
        if not _create(guard, self.mine):
            raise RunLockedError(f"another process is taking over the lock of "
                                 f"{self.path.parent} ({guard} exists); try again, or remove "
                                 f"{guard} if no process is")
        try:
            if _holder(self.path) == holder:  # nobody took it meanwhile
                self.path.unlink(missing_ok=True)
            if not _create(self.path, self.mine):
                raise RunLockedError(f"{self.path.parent} was just locked by "
                                     f"{_who(_holder(self.path))}; wait until it ends")
        finally:
            guard.unlink(missing_ok=True)
        warnings.warn(f"took over the lock of {self.path.parent} from {_who(holder)}, which is "
                      "gone (stopped without removing it)", stacklevel=3)

    def release(self) -> None:
        """Remove the lock file, if it is still this process's."""
        if _holder(self.path) == self.mine:
            with contextlib.suppress(OSError):
                self.path.unlink()


def _create(path: Path, record: dict[str, Any]) -> bool:
    """Create ``path`` holding ``record`` (False: it exists); ``FolderError`` if unwritable."""
    created = False
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        created = True
        with os.fdopen(fd, "w") as file:
            json.dump(record, file)
    except FileExistsError:
        return False
    except OSError as error:
        if created:  # a full disk: no empty lock left behind
            path.unlink(missing_ok=True)
        fix = "free some space" if created else "make it writable"
        raise FolderError(f"cannot lock the run folder {path.parent}: "
                          f"{error.strerror or error}; {fix}") from None
    return True


def _holder(path: Path) -> dict[str, Any] | None:
    """The record of the lock at ``path`` (None: none, or not one that can be read)."""
    try:
        record = read_json(path, 4096)
    except JSONFileError:
        return None
    if not (isinstance(record, dict) and type(record.get("pid")) is int
            and isinstance(record.get("host"), str)):
        return None
    return record


def _alive(holder: dict[str, Any]) -> bool:
    """Whether the holder may still run: on this host, if it exists; on another (unknown), yes."""
    if holder["host"] != socket.gethostname():
        return True
    try:
        os.kill(holder["pid"], 0)
    except (ProcessLookupError, OverflowError, ValueError):  # gone, or no process id at all
        return False
    except PermissionError:  # it exists, as another user's
        return True
    return True


def _who(holder: dict[str, Any] | None) -> str:
    if holder is None:
        return "another process"
    since = f" since {str(holder.get('since'))[:40]}" if holder.get("since") else ""
    return f"process {holder['pid']} on {holder['host'][:100]}{since}"
