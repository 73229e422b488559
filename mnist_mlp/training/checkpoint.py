"""Checkpoints: all that a run needs to continue exactly where it stopped, as plain data.

A checkpoint file (``.pt``) holds one dict of tensors and plain Python values only, so that
``torch.load(path, weights_only=True)`` reads it without unpickling any object — and that is the
only way this package loads one::

    {"format": "mnist-mlp checkpoint", "version": 1,
     "epoch": 4,                                    # epochs completed
     "model": {"config": {"hidden_size": 30, …},    # MLP(**config) rebuilds the network
               "state": {"hidden.weight": Tensor, …}},
     "optimizer": {"lr": 0.5},                      # plain SGD keeps no state but η
     "rng": {"torch": Tensor,                       # torch's global generator (uint8 state)
             "shuffle": Tensor},                    # the generator that shuffles each epoch
     "history": [{"epoch": 1, "train_loss": …}, …],
     "config": {"hidden_size": 30, "lr": 0.5, …}}   # the TrainConfig as a dict

The reference trainer writes ``last.pt`` into the run folder after every epoch and ``best.pt``
whenever the validation accuracy is the best so far, each atomically: a temporary file in the
same folder, then ``os.replace``, so a crash or Ctrl-C never leaves a half-written checkpoint.
With the RNG states restored, a resumed run ends with exactly the weights of an uninterrupted one
(on the same device). Problems a user can fix raise ``CheckpointError`` with a one-line message.
"""

from __future__ import annotations

import math
import os
import stat
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import UserError
from ..files import FILE, examine, write_atomically
from ..textbook.activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from ..textbook.model import INITS, INPUT_SIZE, MLP, NUM_CLASSES
from ..textbook.names import RENAMED
from .records import EpochRecord

FORMAT = "mnist-mlp checkpoint"
VERSION = 1
LAST = "last.pt"
"""The checkpoint of the last completed epoch, in the run folder."""
BEST = "best.pt"
"""The checkpoint of the epoch with the best validation accuracy so far, in the run folder."""
DIVERGED = "diverged.pt"
"""A network of a sweep that diverged: its state after its last completed epoch, weights not
finite (``last.pt`` keeps its last good epoch), so that a resumed sweep restores it as it was."""
ARCHITECTURE = ("hidden_size", "activation", "output_activation")
"""The settings that make the network's shape and functions: fixed for a run."""
FREE_ON_RESUME = ("epochs", "device", "data_dir", "log_every", "checkpoint_every")
"""The settings that a resumed run may change; all others must stay as they were."""


class CheckpointError(UserError):
    """A checkpoint that is missing, unreadable, invalid or does not fit; one-line message."""


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
            raise CheckpointError(f"{self.path} is not a valid mnist-mlp checkpoint: its history "
                                  f"is malformed ({error})") from None

    @property
    def architecture(self) -> str:
        """The network in words, e.g. ``784-30-10 (sigmoid hidden, softmax output)``."""
        return describe_architecture(self.model_config)

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint as the plain dict written to disk (see the module docstring)."""
        return {"format": FORMAT, "version": VERSION, "epoch": self.epoch,
                "model": {"config": self.model_config, "state": self.model_state},
                "optimizer": {"lr": self.lr}, "rng": self.rng, "history": self.history,
                "config": self.config}

    @classmethod
    def from_dict(cls, data: Any, path: Path | None = None) -> Checkpoint:
        """Check that ``data`` has the layout of a checkpoint and return it as a ``Checkpoint``.

        Raises ``CheckpointError`` saying what is missing or wrong.
        """
        where = path if path is not None else "the data"
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise CheckpointError(f"{where} is not a valid mnist-mlp checkpoint (no "
                                  f"{FORMAT!r} marker); give a last.pt or best.pt of a run")
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
            raise CheckpointError(f"{where} is not a valid mnist-mlp checkpoint: its entry "
                                  f"{error} is missing or malformed") from None
        problem = _structure_problem(checkpoint) or _model_problem(checkpoint)
        if problem:
            raise CheckpointError(f"{where} is not a valid mnist-mlp checkpoint: {problem}")
        checkpoint.records()  # the history, checked
        return checkpoint


def renamed(config: Any) -> Any:
    """A saved training configuration with the names of today: a loss saved under an old name
    (``RENAMED``, e.g. ``cross_entropy`` before version 0.2) gets its name now."""
    if isinstance(config, dict) and isinstance(config.get("loss"), str):
        return config | {"loss": RENAMED.get(config["loss"], config["loss"])}
    return config


PARAMETERS = ("hidden.weight", "hidden.bias", "output.weight", "output.bias")


def _structure_problem(c: Checkpoint) -> str | None:
    """What is malformed in a checkpoint's plain data (None: nothing), before any of it is used
    to allocate memory."""
    if not (isinstance(c.model_state, dict) and isinstance(c.model_config, dict)
            and isinstance(c.config, dict) and isinstance(c.history, list)):
        return "its model state, configuration or history is malformed"
    if not (all(isinstance(v, Tensor) and v.dtype == torch.uint8 and v.dim() == 1
                for v in c.rng.values())):
        return "its RNG states are not byte tensors"
    if isinstance(c.epoch, bool) or not isinstance(c.epoch, int) or c.epoch != len(c.history):
        return f"its epoch {c.epoch!r} does not match its history of {len(c.history)} epochs"
    if isinstance(c.lr, bool) or not isinstance(c.lr, (int, float)) or not 0 < c.lr < math.inf:
        return f"its learning rate {c.lr!r} is not a positive number"
    return None


def _model_problem(c: Checkpoint) -> str | None:
    """What does not fit in a checkpoint's network (None: nothing): its settings must be known
    names and its weights the shapes those settings give, so that rebuilding it allocates no
    more than the file holds."""
    config, state = c.model_config, c.model_state
    hidden = config.get("hidden_size")
    if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
        return f"its hidden_size {hidden!r} is not a positive integer"
    for name, choices in (("activation", HIDDEN_ACTIVATIONS),
                          ("output_activation", OUTPUT_ACTIVATIONS), ("init", INITS)):
        if config.get(name) not in choices:
            return f"its {name} {config.get(name)!r} is not one of {', '.join(choices)}"
    shapes = dict(zip(PARAMETERS, [(hidden, INPUT_SIZE), (hidden,), (NUM_CLASSES, hidden),
                                   (NUM_CLASSES,)], strict=True))
    if sorted(state) != sorted(PARAMETERS) or not all(
            isinstance(state[n], Tensor) and state[n].is_floating_point()
            and tuple(state[n].shape) == shape for n, shape in shapes.items()):
        return (f"its weights ({describe_weights(state)}) are not those of the 784-{hidden}-10 "
                "network it claims")
    return None


def describe_architecture(config: dict[str, Any]) -> str:
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


# ---------------------------------------------------------------------------------------------
# Making and restoring


def capture(model: MLP, config: dict[str, Any], history: list[EpochRecord],
            shuffle: torch.Generator) -> Checkpoint:
    """The state of a run at the end of an epoch: weights (on the CPU), RNG states, history.

    ``config`` is the training configuration as plain data; its ``lr`` is the optimizer state.
    """
    state = {name: value.detach().to("cpu", copy=True)
             for name, value in model.state_dict().items()}
    return Checkpoint(epoch=len(history), model_config=model.config(), model_state=state,
                      lr=config["lr"], rng={"torch": torch.get_rng_state(),
                                            "shuffle": shuffle.get_state()},
                      history=[record.to_dict() for record in history], config=dict(config))


def build_model(checkpoint: Checkpoint) -> MLP:
    """The checkpoint's network: ``MLP(**model_config)`` with its weights loaded (on the CPU)."""
    try:
        model = MLP(**checkpoint.model_config)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{checkpoint.path} is not a valid mnist-mlp checkpoint: its "
                              f"network cannot be built ({error})") from None
    load_weights(model, checkpoint)
    return model


def load_weights(model: MLP, checkpoint: Checkpoint) -> None:
    """Copy the checkpoint's weights into ``model``; ``CheckpointError`` naming both networks
    if they do not fit."""
    expected = {name: tuple(value.shape) for name, value in model.state_dict().items()}
    found = {name: tuple(value.shape) for name, value in checkpoint.model_state.items()}
    here, saved = model.config(), checkpoint.model_config
    if expected != found or any(here[name] != saved.get(name) for name in ARCHITECTURE):
        held = describe_weights(checkpoint.model_state)
        if found == expected:
            held = describe_architecture(checkpoint.model_config)
        raise CheckpointError(f"{checkpoint.path} holds the weights of a {held} network, but "
                              f"the network here is {describe_architecture(model.config())}; "
                              "use a checkpoint of this architecture")
    model.load_state_dict(checkpoint.model_state)


def restore(checkpoint: Checkpoint, model: MLP, shuffle: torch.Generator) -> None:
    """Put a run back in the state the checkpoint recorded: weights and both RNG states."""
    load_weights(model, checkpoint)
    try:
        torch.set_rng_state(checkpoint.rng["torch"])
        shuffle.set_state(checkpoint.rng["shuffle"])
    except (RuntimeError, TypeError) as error:
        raise CheckpointError(f"{checkpoint.path} is not a valid mnist-mlp checkpoint: its RNG "
                              f"states cannot be restored ({error})") from None


def check_resumable(checkpoint: Checkpoint, config: dict[str, Any],
                    also_free: tuple[str, ...] = ()) -> None:
    """Refuse to resume with a configuration that would not continue the same run.

    The architecture and every training setting but those in ``FREE_ON_RESUME`` (and
    ``also_free``) must equal the saved ones, and ``epochs`` must be more than the epochs
    already trained.
    """
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
    """Whether the last epoch's validation accuracy beats every earlier epoch's (False without
    a validation set)."""
    if not history or history[-1].validation_accuracy is None:
        return False
    earlier = [record.validation_accuracy for record in history[:-1]]
    return not earlier or history[-1].validation_accuracy > max(earlier)


# ---------------------------------------------------------------------------------------------
# Files


def save_checkpoint(checkpoint: Checkpoint, path: str | os.PathLike) -> Path:
    """Write the checkpoint to ``path`` atomically: a temporary file in the same folder, then
    ``os.replace``. The file at ``path`` is always either the old checkpoint or the new one."""
    path = Path(path)
    try:
        write_atomically(path, lambda file: torch.save(checkpoint.to_dict(), file))
    except OSError as error:
        raise CheckpointError(f"cannot write checkpoint {path}: {error.strerror or error}"
                              ) from None
    checkpoint.path = path
    return path


def save_epoch(checkpoint: Checkpoint, run_dir: Path, best: bool) -> Path:
    """Write the epoch's checkpoint as ``run_dir/last.pt``, and as ``best.pt`` if ``best``."""
    if best:
        save_checkpoint(checkpoint, run_dir / BEST)
    return save_checkpoint(checkpoint, run_dir / LAST)


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
    """Read the checkpoint at ``path`` (a file, or a run folder: the first of ``prefer`` in it).

    Loads with ``torch.load(weights_only=True)``: a file holding anything but tensors and plain
    data is refused before any of its objects is built, and what is loaded is checked before
    anything is allocated from it. Every problem raises ``CheckpointError``; when the file is
    damaged and the run's other checkpoint is intact, the message names that one.
    """
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
    except OSError as error:
        if not _readable(file):
            raise CheckpointError(f"cannot read checkpoint {file}: {error.strerror or error}"
                                  ) from None
        raise CheckpointError(f"{file} is not a valid mnist-mlp checkpoint: {_refusal(file)}; "
                              "give a last.pt or best.pt of a run") from None
    except Exception:  # refused by weights_only, or bytes torch.load cannot parse at all
        raise CheckpointError(f"{file} is not a valid mnist-mlp checkpoint: {_refusal(file)}; "
                              "give a last.pt or best.pt of a run") from None
    return Checkpoint.from_dict(data, file)


def _readable(file: Path) -> bool:
    """Whether the bytes of ``file`` can be read at all (else torch's complaint is about the
    file system, not the format)."""
    try:
        with file.open("rb") as opened:
            while opened.read(1 << 20):
                pass
        return True
    except OSError:
        return False


def _intact_sibling(file: Path) -> str:
    """For a run's ``last.pt`` that cannot be read, a pointer to its ``best.pt`` if that one is
    intact (and the other way round); else nothing."""
    if file.name not in (LAST, BEST):
        return ""
    sibling = file.with_name(BEST if file.name == LAST else LAST)
    try:
        epoch = _read(sibling).epoch if sibling.is_file() else None
    except CheckpointError:
        epoch = None
    return "" if epoch is None else f"; {sibling} (epoch {epoch}) is intact: give that one"


LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19."
"""How a file of ``torch.save``'s legacy (pre-1.6) format begins: its pickled magic number."""


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
