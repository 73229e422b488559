"""Command lines: argument parsing and printing only; the work is done by the package.

``mnist-mlp-train`` (``scripts/train.py``), ``mnist-mlp-evaluate`` (``scripts/evaluate.py``) and
``mnist-mlp-predict`` (``scripts/predict.py``). A problem the user can fix is printed as one line,
``error: …`` saying what to do, with exit status 2 and no traceback; Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import shlex
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields, replace
from typing import NoReturn

from .activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from .checkpoint import BEST, LAST, CheckpointError
from .data import DataError
from .engine import train_many
from .losses import LOSSES
from .metrics import classification_report, format_report
from .model import INITS
from .predict import (
    ImageError,
    Prediction,
    checkpoint_summary,
    evaluate_checkpoint,
    predict_files,
)
from .progress import ProgressBars, bars_wanted
from .runs import LogDirError
from .stats import spread, summarize
from .train import (
    DivergenceError,
    TrainConfig,
    TrainingInterrupted,
    TrainResult,
    resume_config,
    train,
)

USER_ERRORS = (DataError, LogDirError, DivergenceError, CheckpointError, ImageError, ValueError)
CONFIG_NAMES = frozenset(f.name for f in fields(TrainConfig))
_NOT_GIVEN = object()


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (no usage block), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def parse_noting_given(parser: argparse.ArgumentParser, argv: Sequence[str] | None,
                       names: Iterable[str]) -> tuple[argparse.Namespace, set[str]]:
    """Parse ``argv``, and say which of the options ``names`` were given (not left at default).

    Each name starts as a marker in the namespace; argparse overwrites it only when the option
    is on the command line. The markers left are then removed and a second parse of no
    arguments fills in the defaults (for options only: names that are none stay absent).
    """
    names = set(names)
    args = parser.parse_args(argv, argparse.Namespace(**dict.fromkeys(names, _NOT_GIVEN)))
    given = {name for name in names if getattr(args, name) is not _NOT_GIVEN}
    for name in names - given:
        delattr(args, name)
    return parser.parse_args([], args), given


def one_line_errors(main: Callable[..., int]) -> Callable[..., int]:
    """Wrap a command's ``main``: a user error prints one ``error: …`` line and exits 2, Ctrl-C
    prints ``interrupted`` and exits 130, a reader that stops early (``… | head``) ends the
    command quietly with status 1 — never a traceback; a warning is one ``warning: …`` line."""

    @functools.wraps(main)
    def guarded(argv: Sequence[str] | None = None) -> int:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_line
            return _run(argv)

    def _run(argv: Sequence[str] | None) -> int:
        try:
            code = main(argv)
            sys.stdout.flush()  # a closed pipe shows here rather than at the interpreter's exit
            return code
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to say
            return 1
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except USER_ERRORS as error:
            print(f"error: {error}", file=sys.stderr)
            return 2

    return guarded


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """Show a warning to a command's user as one line, without the source line."""
    print(f"warning: {message}", file=sys.stderr)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def train_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = OneLineParser(
        description="Train the textbook 784-l-10 network on MNIST by mini-batch SGD. "
                    "Defaults are the reference setup.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--hidden", type=positive_int, default=d.hidden_size, dest="hidden_size",
                   help="hidden neurons l")
    p.add_argument("--activation", choices=list(HIDDEN_ACTIVATIONS), default=d.activation)
    p.add_argument("--output-activation", choices=list(OUTPUT_ACTIVATIONS),
                   default=d.output_activation)
    p.add_argument("--loss", choices=list(LOSSES), default=d.loss)
    p.add_argument("--init", choices=list(INITS), default=d.init,
                   help="normal: N(0,1) as in the classic experiment; scaled_normal: N(0,1/n_in)")
    p.add_argument("--lr", type=positive_float, nargs="+", default=[d.lr],
                   help="learning rate η; several values train a grid (with --seeds)")
    p.add_argument("--batch-size", type=positive_int, default=d.batch_size)
    p.add_argument("--epochs", type=positive_int, default=d.epochs)
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the first network")
    p.add_argument("--seeds", type=positive_int, default=1,
                   help="train N networks, seeds SEED … SEED+N−1, and report mean ± std")
    p.add_argument("--engine", choices=["reference", "fast"], default="reference",
                   help="reference: the readable autograd loop, one network at a time; "
                        "fast: the fused engine, all networks at once")
    p.add_argument("--device", default=d.device, help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--data-dir", default=d.data_dir,
                   help="folder holding MNIST/raw/ (default: $MNIST_DATA, else ./data, "
                        "downloading there)")
    p.add_argument("--train-size", type=positive_int, default=d.train_size,
                   help="use only the first N training images")
    p.add_argument("--validation-size", type=non_negative_int, default=d.validation_size,
                   help="last N training images held out for validation (0: none)")
    p.add_argument("--log-dir", default=d.log_dir,
                   help="folder of the run folders (TensorBoard logs, checkpoints); '' for none")
    p.add_argument("--resume", metavar="PATH",
                   help="continue the run of a run folder (its last.pt) or .pt file, in that "
                        "folder, up to --epochs (which may be raised); the run's own settings "
                        "are used (only --epochs, --device, --data-dir may change)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bars (they are shown only on a terminal anyway)")
    return p


def epoch_line(record: dict[str, float]) -> str:
    """One epoch of a history as a line: training loss, validation and test accuracy, time."""
    validation = (f"  validation {100 * record['validation_accuracy']:6.2f}%"
                  if "validation_accuracy" in record else "")
    return (f"epoch {record['epoch']:3d}  train loss {record['train_loss']:.4f}{validation}"
            f"  test {100 * record['test_accuracy']:6.2f}%  ({record['seconds']:.1f} s)")


def print_epoch(record: dict[str, float]) -> None:
    print(epoch_line(record), flush=True)


def print_epoch_of_many(epoch: int, records: list[dict[str, float]]) -> None:
    accuracy = spread(r["test_accuracy"] for r in records)
    print(f"epoch {epoch:3d}  {len(records)} networks  test {accuracy.percent()}"
          f"  ({records[0]['seconds']:.1f} s)", flush=True)


def print_summary(results: list[TrainResult]) -> None:
    """One block per learning rate: the spread of test accuracy over its seeds."""
    for lr in dict.fromkeys(r.config.lr for r in results):
        group = [r for r in results if r.config.lr == lr]
        seeds = [r.config.seed for r in group]
        summary = summarize([r.history for r in group])
        print(f"\nlr {lr:g}, seeds {seeds[0]}…{seeds[-1]}: {summary['runs']} runs, "
              f"{summary['diverged']} diverged")
        for key, label in (("final", "final epoch"), ("best", "best epoch (on test)"),
                           ("validated", "epoch chosen by validation")):
            if key in summary:
                print(f"  test accuracy, {label:28s} {summary[key].percent()}")


def train_config(args: argparse.Namespace, given: set[str]) -> TrainConfig:
    """The configuration asked for; with ``--resume``, the run's own with the options given."""
    if args.resume is None:
        return TrainConfig(**{k: v for k, v in vars(args).items() if k in CONFIG_NAMES} | {
            "lr": args.lr[0]})
    if args.engine == "fast" or args.seeds > 1 or len(args.lr) > 1:
        raise ValueError("--resume continues one run with the reference loop (a run of either "
                         "engine); drop --engine fast, --seeds and extra --lr values")
    changes = {name: getattr(args, name) for name in given & CONFIG_NAMES}
    if "lr" in changes:
        changes["lr"] = args.lr[0]
    return resume_config(args.resume, **changes)


def command_name() -> str:
    """How to run the train command again: ``python scripts/train.py`` or ``mnist-mlp-train``."""
    program = sys.argv[0] if sys.argv else ""
    if program.endswith(".py") and not program.endswith("__main__.py"):
        return f"python {shlex.quote(program)}"
    return "mnist-mlp-train"


def interrupted_message(stop: TrainingInterrupted) -> str:
    """One line after Ctrl-C: what was saved, and the command that resumes from it."""
    if stop.checkpoint is None:
        return "interrupted before any epoch was saved; nothing to resume"
    return (f"interrupted: epoch {stop.epoch} is saved in {stop.checkpoint}; resume with: "
            f"{command_name()} --resume {shlex.quote(str(stop.checkpoint))}")


def train_reference(config: TrainConfig, args: argparse.Namespace) -> list[TrainResult]:
    """Train each (lr, seed) of the grid in turn with the reference loop, with progress bars."""
    lrs, seeds = args.lr, list(range(args.seed, args.seed + args.seeds))
    if args.resume is not None:
        lrs, seeds = [config.lr], [config.seed]
    results = []
    for lr in lrs:
        for seed in seeds:
            if len(seeds) * len(lrs) > 1:
                print(f"--- lr {lr:g}, seed {seed}", flush=True)
            with ProgressBars(config.epochs, epoch_line, bars_wanted(args.quiet)) as bars:
                results.append(train(replace(config, lr=lr, seed=seed), on_epoch=bars.epoch,
                                     on_step=bars.step, resume=args.resume))
    return results


@one_line_errors
def train_main(argv: Sequence[str] | None = None) -> int:
    """``mnist-mlp-train``: train, print one line per epoch and the final metrics."""
    args, given = parse_noting_given(train_parser(), argv, CONFIG_NAMES)
    seeds = list(range(args.seed, args.seed + args.seeds))
    try:
        config = train_config(args, given)
        if args.engine == "fast":
            results = train_many(config, seeds, args.lr, on_epoch=print_epoch_of_many
                                 if len(seeds) * len(args.lr) > 1 else
                                 lambda _, records: print_epoch(records[0]))
        else:
            results = train_reference(config, args)
    except TrainingInterrupted as stop:
        print(interrupted_message(stop), file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted: each network's run folder keeps the checkpoint of its last "
              "completed epoch" if args.engine == "fast" and args.log_dir
              else "interrupted before the first epoch began; nothing new was saved",
              file=sys.stderr)
        return 130
    if len(results) == 1:
        print()
        print(format_report(results[0].metrics))
    else:
        print_summary(results)
    run_dirs = [r.run_dir for r in results if r.run_dir is not None]
    if run_dirs:
        print(f"\nTensorBoard logs in {run_dirs[0].parent}  (tensorboard --logdir "
              f"{run_dirs[0].parent})")
    if len(run_dirs) == 1:
        best = " and best.pt" if (run_dirs[0] / BEST).exists() else ""
        print(f"checkpoints {LAST}{best} in {run_dirs[0]}  (mnist-mlp-evaluate {run_dirs[0]})")
    elif run_dirs:
        best = f" and {BEST}" if (run_dirs[0] / BEST).exists() else ""
        print(f"checkpoints {LAST}{best} in each run folder  (mnist-mlp-evaluate "
              f"{run_dirs[0].parent}/<run>)")
    return 0


# ---------------------------------------------------------------------------------------------
# mnist-mlp-evaluate


def evaluate_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        description="Evaluate a trained network on the 10,000 MNIST test digits: accuracy, "
                    "per-class precision, recall and specificity, confusion matrix.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("checkpoint", help="a checkpoint (.pt) or a run folder (its best.pt, else "
                                      "last.pt)")
    p.add_argument("--data-dir", help="folder holding MNIST/raw/ (default: $MNIST_DATA, else "
                                      "./data, downloading there)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--json", action="store_true",
                   help="print the report, loss and checkpoint as JSON instead of a table")
    return p


@one_line_errors
def evaluate_main(argv: Sequence[str] | None = None) -> int:
    """``mnist-mlp-evaluate``: the test-set report of a checkpoint's network."""
    args = evaluate_parser().parse_args(argv)
    result = evaluate_checkpoint(args.checkpoint, args.data_dir, args.device)
    checkpoint, test = result.checkpoint, result.test
    report = classification_report(test.confusion)
    loss = checkpoint.config.get("loss")
    if args.json:
        print(json.dumps(report.to_dict() | {
            "loss": test.loss, "loss_function": loss,
            "checkpoint": checkpoint_summary(checkpoint)}, indent=2))
        return 0
    print(f"{checkpoint.path}: {checkpoint.architecture}, epoch {checkpoint.epoch}, "
          f"lr {checkpoint.lr:g}")
    print(f"test loss ({loss}) {test.loss:.4f}\n")
    print(format_report(report))
    return 0


# ---------------------------------------------------------------------------------------------
# mnist-mlp-predict


def predict_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        description="Read the digit in each image (PNG or JPEG; dark on light or light on dark) "
                    "with a trained network: the digit and the ten probabilities.")
    p.add_argument("checkpoint", help="a checkpoint (.pt) or a run folder (its best.pt, else "
                                      "last.pt)")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files, one digit each")
    p.add_argument("--json", action="store_true", help="print the predictions as JSON")
    return p


def prediction_lines(path: str, prediction: Prediction) -> str:
    """Two lines: the image and its digit, then the ten probabilities."""
    p = prediction.probabilities
    return (f"{path}: {prediction.digit}  (probability {p[prediction.digit]:.3f})\n  "
            + "  ".join(f"{digit}: {value:.3f}" for digit, value in enumerate(p)))


@one_line_errors
def predict_main(argv: Sequence[str] | None = None) -> int:
    """``mnist-mlp-predict``: the digit in each image and the ten probabilities."""
    args = predict_parser().parse_args(argv)
    checkpoint, predictions = predict_files(args.checkpoint, args.images)
    if args.json:
        print(json.dumps({"checkpoint": checkpoint_summary(checkpoint), "predictions": [
            {"image": path} | prediction.to_dict()
            for path, prediction in zip(args.images, predictions, strict=True)]}, indent=2))
        return 0
    if predictions[0].normalised:
        print(f"(sigmoid output layer: its ten outputs divided by their sum, to read as "
              f"probabilities; {checkpoint.path})")
    for path, prediction in zip(args.images, predictions, strict=True):
        print(prediction_lines(path, prediction))
    return 0
