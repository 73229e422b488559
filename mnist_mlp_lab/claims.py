"""The chapter, claim by claim: every statement that can be measured, measured.

``run_claims(settings)`` makes every measurement behind ``results/claims.md``: the sweeps of η,
l and m and of the recipe's choices (hidden activation; output layer with its loss) on the engine
(``sweeps``), the L1/L2 fits and the backward-engineered cross-entropy (``loss_claims``), the
one-digit-against-nine classifier (``unbalanced``), the chapter's softmax-gradient derivation on
a real mini-batch and its "1 in 14" (``errata``), and what the reproduction (``reproduction.json``)
says: the figures, the stalls, the costs compared over seeds. The statements are ``statements``,
the rule of each verdict ``claims_rules``, the table and figures ``claims_report`` and
``claims_plots``; ``scripts/claims.py`` is the command.

The sweeps start from the chapter's MNIST recipe, the reproduction's ``l30-softmax_eq35``
protocol — sigmoid hidden layer, softmax output with the cross-entropy (35), both terms, weights
and biases from N(0, 1), η = 0.5, mini-batches of 10, 30 epochs, the first 50,000 training images
— and change one setting.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from mnist_mlp.data import load_mnist
from mnist_mlp.errors import UserError
from mnist_mlp.files import examine
from mnist_mlp.training import (
    EpochRecord,
    best_accuracy,
    final_accuracy,
    resolve_device,
)

from .claim_settings import ClaimSettings
from .errata import DerivationCheck, OneIn, chapter_one_in, softmax_derivation_check
from .loss_claims import Integral, LineFit, Regression, backward_engineering, l1_l2_fits
from .machine import machine
from .results import ConfigurationResult, read_results
from .results import load as load_reproduction
from .sweeps import (
    BatchSweep,
    Point,
    Say,
    activation_sweep,
    batch_size_sweep,
    hidden_size_sweep,
    learning_rate_sweep,
    output_sweep,
)
from .unbalanced import OneAgainstNine, unbalanced


@dataclass
class Reproduced:
    """One configuration of the reproduction, as the claims read it: per seed."""

    name: str
    hidden_size: int
    output_activation: str
    loss: str
    lr: float
    textbook: float | None
    final: list[float]  # final test accuracy; NaN for a diverged network
    best: list[float]  # best-epoch test accuracy (the chapter's reading); NaN where diverged
    stalled: list[bool]


@dataclass
class ReproductionLink:
    """What the reproduction (``reproduction.json``) says about the chapter's statements: every
    configuration's runs, and why the stalled quadratic-cost runs stall."""

    stalled_configuration: str
    stalled: int
    runs: int
    stuck_error: float | None  # mean |F − y| where a stuck output is wrong
    stuck_delta: float | None  # mean |δ| there
    other_delta: float | None  # mean |δ| of the other wrong outputs
    configurations: list[Reproduced] = field(default_factory=list)

    def find(self, name: str) -> Reproduced | None:
        return next((c for c in self.configurations if c.name == name), None)


@dataclass
class Claims:
    """Everything ``run_claims`` measured."""

    settings: ClaimSettings
    learning_rate: list[Point]
    hidden_size: list[Point]
    batch_size: BatchSweep
    activation: list[Point]  # the hidden layer's activation, the recipe otherwise
    output: list[Point]  # the output layer with its loss, the recipe otherwise
    regression: Regression
    integrals: list[Integral]
    unbalanced: list[OneAgainstNine]
    derivation: DerivationCheck
    one_in: OneIn
    reproduction: ReproductionLink | None
    machine: dict[str, Any] = field(default_factory=dict)
    command: str = ""
    wall_seconds: float = 0.0
    started: str = ""


class ClaimsFileError(UserError, ValueError):
    """A file read back as a ``claims.json`` that is not one."""


def load(path: str | Path) -> Claims:
    """The ``Claims`` saved in ``claims.json`` at ``path`` (to render the report again)."""
    d = read_results(path, "give a claims.json that scripts/claims.py wrote", ClaimsFileError)
    try:
        settings = ClaimSettings(**{k: _tuple(v) for k, v in d["settings"].items()})
        batch = d["batch_size"]
        regression = d["regression"] | {"fits": {k: LineFit(**v) for k, v in
                                                 d["regression"]["fits"].items()}}
        link = d["reproduction"]
        if link is not None:
            link = ReproductionLink(**link | {"configurations": [
                Reproduced(**c | {"final": _nans(c["final"]), "best": _nans(c["best"])})
                for c in link["configurations"]]})
        return Claims(
            settings, _points(d["learning_rate"]), _points(d["hidden_size"]),
            BatchSweep(_points(batch["epochs"]), _points(batch["updates"]),
                       batch["fixed_updates"]),
            _points(d["activation"]), _points(d["output"]), Regression(**regression),
            [Integral(**i) for i in d["integrals"]],
            [OneAgainstNine(**u) for u in d["unbalanced"]], DerivationCheck(**d["derivation"]),
            OneIn(**d["one_in"]), link, d["machine"], d["command"], d["wall_seconds"],
            d["started"])
    except (KeyError, TypeError, ValueError) as error:
        raise ClaimsFileError(f"{path} is not a claims.json: {error!r}") from None


def _tuple(value: Any) -> Any:
    """A JSON list as the tuple a setting is, nested lists too."""
    return tuple(_tuple(v) for v in value) if isinstance(value, list) else value


def _nans(values: list[Any]) -> list[float]:
    """Strict JSON's None is NaN again."""
    return [math.nan if v is None else v for v in values]


def _points(items: list[dict[str, Any]]) -> list[Point]:
    """Points read back: strict JSON's None is NaN again."""
    return [Point(**(p | {"final": _nans(p["final"]), "losses": [_nans(h) for h in p["losses"]],
                          "seconds_per_epoch": _nans([p["seconds_per_epoch"]])[0]}))
            for p in items]


def reproduction_link(path: str | Path, stalls: str = "l100-quadratic"
                      ) -> ReproductionLink | None:
    """What the reproduction at ``path`` says (None: no such file, or no ``stalls`` in it); a
    path that cannot be examined or read is one line (``UserError``)."""
    if examine(path, "the reproduction", "give --reproduction a reproduction.json") is None:
        return None
    results = load_reproduction(path).results
    stalled = next((r for r in results if r.configuration.name == stalls), None)
    if stalled is None:
        return None
    ev = stalled.evidence()["stalled"]
    return ReproductionLink(
        stalls, len(stalled.stalled), len(stalled.runs), ev and ev["stuck_output_error"],
        ev and ev["wrong_delta_stuck"], ev and ev["wrong_delta_other"],
        [_reproduced(r) for r in results])


def _reproduced(r: ConfigurationResult) -> Reproduced:
    c = r.configuration

    def read(reading: Callable[[list[EpochRecord]], float]) -> list[float]:
        return [math.nan if run.diverged else reading(run.history) for run in r.runs]

    return Reproduced(c.name, c.hidden_size, c.output_activation, c.loss, c.lr, c.textbook,
                      read(final_accuracy), read(best_accuracy), [run.stalled for run in r.runs])


def run_claims(settings: ClaimSettings, say: Say | None = None, command: str = "") -> Claims:
    """Measure every claim under ``settings``; ``say`` receives progress lines."""
    say = say or (lambda _: None)
    settings.validate()
    started = datetime.now().astimezone().isoformat(timespec="seconds")
    start = time.perf_counter()
    data = load_mnist(settings.data_dir, validation_size=settings.validation_size)  # fails fast
    link = reproduction_link(settings.reproduction)  # and --reproduction's file
    base, seeds = settings.base(), list(range(settings.seeds))
    say(f"claims: {settings.seeds} seeds, {settings.epochs} epochs, "
        f"{settings.train_images():,} training images")
    lr = learning_rate_sweep(base, settings.lrs, seeds, say)
    hidden = hidden_size_sweep(base, settings.hidden_sizes, seeds, say)
    batch = batch_size_sweep(base, settings.batch_sizes, seeds, settings.updates,
                             settings.train_images(), say)
    known = {replace(base, hidden_size=int(p.value)): p for p in hidden}  # not trained twice
    claims = Claims(
        settings, lr, hidden, batch,
        activation_sweep(base, settings.activations, seeds, say, known),
        output_sweep(base, settings.outputs, seeds, say, known), l1_l2_fits(),
        backward_engineering(), unbalanced(data.test.labels),
        softmax_derivation_check(data.train.images, data.train.labels), chapter_one_in(),
        link, machine(resolve_device(settings.device)),
        command, 0.0, started)
    claims.wall_seconds = time.perf_counter() - start
    return claims
