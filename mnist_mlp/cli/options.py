"""The options of the commands train, evaluate, predict and merge, in a module that loads no
torch, so that ``--help``, ``--version`` and a mistyped option answer at once (docs/commands.md).
Every parser comes from ``command_parser``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from .. import __version__
from ..textbook import names
from ..training.config import TrainConfig
from .common import OneLineParser, non_negative_int, positive_float, positive_int, shard_option

DATA_DIR_HELP = "folder holding MNIST/raw/ (default: $MNIST_DATA, else ./data, downloading there)"
CHECKPOINT_HELP = "a checkpoint (.pt) or a run folder (its best.pt, else last.pt)"
DEVICE_HELP = "auto, cpu, cuda, cuda:N or mps"


class DefaultsShown(argparse.HelpFormatter):
    """Each option's help ends with its default, "(default: 0.5)", unless it says it already or
    the default is None (the help then says what happens)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help
        if (text is None or "(default" in text or not action.option_strings
                or action.default is None or action.default is argparse.SUPPRESS):
            return text
        default = action.default
        shown = " ".join(map(str, default)) if isinstance(default, list) else str(default)
        return f"{text} (default: {shown.replace('%', '%%')})"


def loss_name(text: str) -> str:
    """A loss name as given, refusing one that could mean two losses (``names.AMBIGUOUS``)."""
    if text in names.AMBIGUOUS:
        raise argparse.ArgumentTypeError(names.AMBIGUOUS[text])
    return text


def command_parser(description: str) -> OneLineParser:
    """A command's parser: one-line errors, every default in ``--help``, and ``--version``."""
    p = OneLineParser(description=description, formatter_class=DefaultsShown)
    p.add_argument("--version", action="version", version=f"mnist-mlp {__version__}",
                   help="print mnist-mlp's version and exit")
    return p


def train_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = command_parser("Train the textbook 784-l-10 network on MNIST by mini-batch SGD. "
                       "Defaults are the chapter's recipe.")
    p.add_argument("--hidden", type=positive_int, default=d.hidden_size, dest="hidden_size",
                   metavar="L", help="hidden neurons l")
    p.add_argument("--activation", choices=names.HIDDEN_ACTIVATION_NAMES, default=d.activation,
                   help="activation of the hidden neurons")
    p.add_argument("--output-activation", choices=names.OUTPUT_ACTIVATION_NAMES,
                   default=d.output_activation, help="activation of the ten output neurons")
    p.add_argument("--loss", type=loss_name, choices=names.LOSS_NAMES, default=d.loss,
                   help="loss per digit, averaged over a mini-batch: " + "; ".join(
                       f"{name}, {words}" for name, words in names.LOSS_DESCRIPTIONS.items()))
    p.add_argument("--init", choices=names.INIT_NAMES, default=d.init,
                   help="pytorch: nn.Linear's own, U(±1/√n_in); normal: N(0,1) as in the "
                        "classic experiment; scaled_normal: N(0,1/n_in)")
    p.add_argument("--lr", type=positive_float, nargs="+", default=[d.lr],
                   help="learning rate η; several values train a grid (with --seeds)")
    p.add_argument("--batch-size", type=positive_int, default=d.batch_size,
                   help="mini-batch size m")
    p.add_argument("--epochs", type=positive_int, default=d.epochs,
                   help="passes over the training images")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the first network")
    p.add_argument("--seeds", type=positive_int, default=d.seeds, metavar="N",
                   help="a count: train N networks, seeds SEED … SEED+N−1, and report mean ± std")
    p.add_argument("--engine", choices=["reference", "fast"], default="reference",
                   help="reference: the readable autograd loop, one network at a time; "
                        "fast: the fused engine, all networks at once")
    p.add_argument("--device", default=d.device, help=DEVICE_HELP)
    p.add_argument("--data-dir", default=d.data_dir, help=DATA_DIR_HELP)
    p.add_argument("--train-size", type=positive_int, default=d.train_size,
                   help="use only the first N training images (default: all those not held "
                        "out for validation)")
    p.add_argument("--validation-size", type=non_negative_int, default=d.validation_size,
                   help="last N training images held out for validation (0: none)")
    p.add_argument("--log-dir", default=d.log_dir,
                   help="folder of the run folders (TensorBoard logs, checkpoints); '' for none")
    p.add_argument("--checkpoint-every", type=positive_int, default=d.checkpoint_every,
                   metavar="N", help="write last.pt and best.pt every N epochs (and after the "
                                     "last one, and when stopped early)")
    p.add_argument("--evaluate-train-every", type=positive_int, default=d.evaluate_train_every,
                   metavar="N", help="evaluate the whole training set every N epochs (and after "
                                     "the last one); the other epochs show the mean mini-batch "
                                     "loss instead, and a sweep saves a forward pass per image")
    p.add_argument("--resume", metavar="PATH",
                   help="continue the run of a run folder (its last.pt) or .pt file, in its "
                        "run folder (a checkpoint kept elsewhere: in a new run folder under "
                        "--log-dir), up to --epochs (which may be raised); the run's own "
                        "settings are used (only --epochs, --device, --data-dir may change). "
                        "A sweep's manifest (LOG_DIR/sweep-….json, or LOG_DIR holding one; "
                        "with --shard I/N, that shard's) continues every network of the sweep "
                        "on the fast engine")
    p.add_argument("--shard", type=shard_option, metavar="I/N",
                   help="train only shard I of N of the sweep (--engine fast; e.g. one task of "
                        "a job array), its results into --log-dir; then mnist-mlp-merge "
                        "(default: under a Slurm job array, the task's shard; else the whole "
                        "sweep)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bars (they are shown only on a terminal anyway)")
    return p


def evaluate_parser() -> argparse.ArgumentParser:
    p = command_parser("Evaluate a trained network on the 10,000 MNIST test digits: accuracy, "
                       "per-class precision, recall and specificity, confusion matrix.")
    p.add_argument("checkpoint", help=CHECKPOINT_HELP)
    p.add_argument("--data-dir", help=DATA_DIR_HELP)
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--json", action="store_true",
                   help="print the report, loss and checkpoint as JSON instead of a table")
    return p


def predict_parser() -> argparse.ArgumentParser:
    p = command_parser("Read the digit in each image (PNG or JPEG; dark on light or light on "
                       "dark) with a trained network: the digit and the ten probabilities. An "
                       "image that cannot be read is one error line, the others are answered, "
                       "and the exit status is 2.")
    p.add_argument("checkpoint", help=CHECKPOINT_HELP)
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files, one digit each")
    p.add_argument("--json", action="store_true", help="print the predictions as JSON")
    return p


def merge_parser() -> argparse.ArgumentParser:
    p = command_parser("Merge the shards of a sweep (mnist-mlp-train --engine fast --shard "
                       "I/N) and print its summary.")
    p.add_argument("folder", type=Path, help="the folder the shards wrote shard-I-of-N.json to "
                                             "(their --log-dir)")
    return p


PARSERS: dict[str, Callable[[], argparse.ArgumentParser]] = {
    "train": train_parser, "evaluate": evaluate_parser, "predict": predict_parser,
    "merge": merge_parser}
"""The parser of each command that ``cli.run`` parses before importing it."""
