"""The reproduction's setups: the textbook's configurations and how the reproduction is run.

Every configuration shares the protocol of Nielsen's runs behind the chapter's MNIST figures:
784-l-10, sigmoid hidden layer, weights and biases from N(0, 1) (``init="normal"``), mini-batches
of 10, 30 epochs, trained on the first 50,000 training images, validated on the last 10,000,
tested on the 10,000 test images. Seed s gives the same initial weights (for one l) and the same
mini-batch order in every configuration, so within one l only the output layer and the cost
differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnist_mlp.errors import ConfigError
from mnist_mlp.training import TrainConfig

STALL_MARGIN = 0.05
"""A run stalls when its final test accuracy is this far (5 points) below its configuration's
best final test accuracy."""
ENGINES = ("fast", "reference")
QUICK = {"seeds": 3, "epochs": 5, "train_size": 10_000}
"""``--quick``: 3 seeds, 5 epochs on the first 10,000 training images; validation and test
sets stay whole."""

@dataclass(frozen=True)
class Configuration:
    """One of the textbook's setups: what differs between the rows of the table."""

    name: str
    hidden_size: int
    output_activation: str
    loss: str
    lr: float
    textbook: float | None
    """The textbook's test accuracy (a fraction), None where it gives none."""
    cost: str
    """The output layer and cost, in words."""

    def train_config(self, settings: Settings) -> TrainConfig:
        """The ``TrainConfig`` of this configuration under ``settings`` (seed 0). The training
        set is evaluated after the last epoch only: the reproduction reports validation and test
        accuracy, and a forward pass over 50,000 images each epoch would cost it a third of its
        training time (its records keep each epoch's mean mini-batch loss)."""
        log_dir = str(Path(settings.log_dir) / self.name) if settings.log_dir else None
        return TrainConfig(hidden_size=self.hidden_size, activation="sigmoid",
                           output_activation=self.output_activation, loss=self.loss,
                           init="normal", lr=self.lr, batch_size=settings.batch_size,
                           epochs=settings.epochs, seed=0, device=settings.device,
                           data_dir=settings.data_dir, train_size=settings.train_size,
                           validation_size=settings.validation_size, log_dir=log_dir,
                           evaluate_train_every=settings.epochs)


CHAPTER_ETA = 0.5
"""The η the chapter states beside its MNIST figures, for both costs."""
NIELSEN_QUADRATIC_ETA = 3.0
"""The η of Nielsen's quadratic-cost runs (ch. 1), which gave the chapter's quadratic figures."""

CONFIGURATIONS: tuple[Configuration, ...] = tuple(
    Configuration(f"l{hidden}-{kind}", hidden, output, loss, lr, textbook, cost)
    for hidden, figures in ((30, (0.9549, 0.9542)), (100, (0.9682, 0.9659)))
    for kind, output, loss, lr, textbook, cost in (
        ("cross_entropy", "sigmoid", "binary_cross_entropy", CHAPTER_ETA, figures[0],
         "sigmoid, cross-entropy"),
        ("quadratic", "sigmoid", "mse", NIELSEN_QUADRATIC_ETA, figures[1], "sigmoid, quadratic"),
        ("quadratic_eta0.5", "sigmoid", "mse", CHAPTER_ETA, None,
         "sigmoid, quadratic, the chapter's stated η"),
        ("softmax", "softmax", "log_likelihood", CHAPTER_ETA, None, "softmax, log-likelihood"),
        ("softmax_eq35", "softmax", "binary_cross_entropy", CHAPTER_ETA, None,
         "softmax, cross-entropy (35)"),
    )
)
"""The chapter's four figures belong to Nielsen's sigmoid-output runs: ch. 3 (cross-entropy,
l = 30 and 100, η = 0.5), ch. 1 (quadratic cost, η = 3.0); these rows stay at his η.
``quadratic_eta0.5`` is the quadratic cost at the η the chapter's sentence states for both costs,
0.5: its figures were not measured so (an erratum; the claims compare the costs at both η).
``softmax`` is the softmax output with the log-likelihood cost that his ch. 3 recommends,
without a figure. ``softmax_eq35`` is the chapter's own MNIST recipe: a softmax output with the
cross-entropy of eq. (35), both terms kept (``binary_cross_entropy`` on a softmax output); the
figures the chapter quotes beside it were not measured with it. Its η = 0.5 is the one the
chapter states beside its figures (the claims' learning-rate sweep, on this recipe, shows where
it lies)."""
NAMES = tuple(c.name for c in CONFIGURATIONS)


def is_chapter_recipe(conf: Configuration) -> bool:
    """Whether ``conf`` is the chapter's MNIST recipe: softmax output, the cross-entropy (35)."""
    return conf.output_activation == "softmax" and conf.loss == "binary_cross_entropy"


def is_quadratic_at_stated_eta(conf: Configuration) -> bool:
    """Whether ``conf`` is the quadratic cost at the chapter's stated η (not Nielsen's)."""
    return conf.loss == "mse" and conf.lr == CHAPTER_ETA


def configuration(name: str) -> Configuration:
    """The configuration called ``name``; an unknown name is a ValueError listing the choices."""
    for c in CONFIGURATIONS:
        if c.name == name:
            return c
    raise ConfigError(f"unknown configuration {name!r}; choose from {', '.join(NAMES)}")


@dataclass(frozen=True)
class Settings:
    """How the reproduction is run. The defaults are the reference protocol."""

    seeds: int = 10
    epochs: int = 30
    train_size: int | None = None
    """The first N training images (None: all 60,000 − validation_size = 50,000)."""
    validation_size: int = 10_000
    batch_size: int = 10
    data_dir: str | None = None
    device: str = "auto"
    log_dir: str | None = "runs/reproduction"
    engine: str = "fast"
    only: tuple[str, ...] | None = None
    stall_margin: float = STALL_MARGIN
    quick: bool = False

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the first impossible setting."""
        for name in ("seeds", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.validation_size < 1:
            raise ConfigError("the reproduction needs a validation set (validation_size >= 1)")
        if self.engine not in ENGINES:
            raise ConfigError(f"unknown engine {self.engine!r}; choose one of "
                             f"{', '.join(ENGINES)}")
        if not 0 < self.stall_margin < 1:
            raise ConfigError(f"stall_margin must lie in (0, 1), got {self.stall_margin}")
        for name in self.only or ():
            configuration(name)

    def configurations(self) -> list[Configuration]:
        """The configurations to run, in the table's order."""
        return [c for c in CONFIGURATIONS if self.only is None or c.name in self.only]


def quick_settings(**overrides: Any) -> Settings:
    """``Settings`` of the quick version (``QUICK``), with ``overrides`` on top."""
    return Settings(**(QUICK | {"quick": True} | overrides))



def train_images(settings: Settings) -> int:
    """How many training images the runs use."""
    available = 60_000 - settings.validation_size
    return available if settings.train_size is None else min(settings.train_size, available)
