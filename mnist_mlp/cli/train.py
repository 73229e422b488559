"""``mnist-mlp-train``: train, print one line per epoch and the final report.

Argument parsing and printing only: the work is done by ``mnist_mlp.training``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from collections.abc import Sequence
from dataclasses import fields, replace

from ..errors import ConfigError, exit_status
from ..experiments.stats import summarize
from ..textbook.activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from ..textbook.losses import LOSSES
from ..textbook.model import INITS
from ..training import (
    EpochRecord,
    TrainConfig,
    TrainingInterrupted,
    TrainResult,
    resume_config,
    train,
    train_many,
)
from ..training.checkpoint import BEST, LAST
from ..training.launch import Launch, process_group
from ..training.progress import ProgressBars, SweepBar, bars_wanted
from . import parallel
from .common import (
    OneLineParser,
    non_negative_int,
    one_line_errors,
    parse_noting_given,
    positive_float,
    positive_int,
    quoted,
    shard_option,
)
from .tables import epoch_line, epoch_of_many_line, format_report

CONFIG_NAMES = frozenset(f.name for f in fields(TrainConfig))


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
    p.add_argument("--checkpoint-every", type=positive_int, default=d.checkpoint_every,
                   metavar="N", help="write last.pt and best.pt every N epochs (and after the "
                                     "last one, and when stopped early)")
    p.add_argument("--resume", metavar="PATH",
                   help="continue the run of a run folder (its last.pt) or .pt file, in that "
                        "folder, up to --epochs (which may be raised); the run's own settings "
                        "are used (only --epochs, --device, --data-dir may change)")
    p.add_argument("--shard", type=shard_option, metavar="I/N",
                   help="train only shard I of N of the sweep (--engine fast; e.g. one task of "
                        "a job array), its results into --log-dir; then mnist-mlp-merge")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bars (they are shown only on a terminal anyway)")
    return p


def print_epoch(record: EpochRecord) -> None:
    print(epoch_line(record), flush=True)


def train_fast(config: TrainConfig, args: argparse.Namespace) -> list[TrainResult]:
    """Train the grid of (lr, seed) all at once with the fast engine; for several networks, a
    bar over network-epochs (on a terminal)."""
    seeds = list(range(args.seed, args.seed + args.seeds))
    if len(seeds) * len(args.lr) == 1:
        return train_many(config, seeds, args.lr,
                          on_epoch=lambda _, records: print_epoch(records[0]))
    with SweepBar(config.epochs, len(seeds) * len(args.lr), epoch_of_many_line,
                  bars_wanted(args.quiet)) as bar:
        return train_many(config, seeds, args.lr, on_epoch=bar.epoch)


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
        raise ConfigError("--resume continues one run with the reference loop (a run of either "
                         "engine); drop --engine fast, --seeds and extra --lr values")
    changes = {name: getattr(args, name) for name in given & CONFIG_NAMES}
    if "lr" in changes:
        changes["lr"] = args.lr[0]
    return resume_config(args.resume, **changes)


def command_name() -> str:
    """How to run the train command again: ``python scripts/train.py`` or ``mnist-mlp-train``."""
    program = sys.argv[0] if sys.argv else ""
    if program.endswith(".py") and not program.endswith("__main__.py"):
        return f"python {quoted(program)}"
    return "mnist-mlp-train"


def interrupted_message(stop: TrainingInterrupted) -> str:
    """One line after Ctrl-C, SIGTERM or SIGHUP: what was saved, and the command that resumes
    from it."""
    if stop.checkpoint is None:
        return "interrupted before any epoch was saved; nothing to resume"
    if stop.epoch >= stop.epochs:
        return (f"interrupted after the last epoch ({stop.epoch}): the run is complete and "
                f"saved in {stop.checkpoint.parent}")
    if stop.networks > 1:
        return (f"interrupted: each network's run folder keeps the checkpoint of its last "
                f"completed epoch (epoch {stop.epoch})")
    return (f"interrupted: epoch {stop.epoch} is saved in {stop.checkpoint}; resume with: "
            f"{command_name()} --resume {quoted(stop.checkpoint)}")


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
def main(argv: Sequence[str] | None = None) -> int:
    """``mnist-mlp-train``: train, print one line per epoch and the final metrics."""
    args, given = parse_noting_given(train_parser(), argv, CONFIG_NAMES)
    launch = Launch.from_environment()
    shard = parallel.check(args, launch)
    with process_group(launch, launch.device(args.device)), \
            contextlib.redirect_stdout(sys.stdout if launch.primary else io.StringIO()):
        try:
            config = train_config(args, given)
            if shard is not None:
                results = parallel.train_shard(config, args, launch, shard)
            elif launch.distributed:
                results = parallel.train_data_parallel_run(config, args, launch)
            elif args.engine == "fast":
                results = train_fast(config, args)
            else:
                results = train_reference(config, args)
        except TrainingInterrupted as stop:
            print(interrupted_message(stop), file=sys.stderr)
            return stop.exit_status
        except KeyboardInterrupt as stop:
            print("interrupted before the first epoch began; nothing new was saved",
                  file=sys.stderr)
            return exit_status(stop)
        if results:
            print_results(results)
    return 0


def print_results(results: list[TrainResult]) -> None:
    """The final report of one network, or the summary of a sweep; where the logs are."""
    if len(results) == 1 and results[0].metrics is not None:
        print()
        print(format_report(results[0].metrics))
    else:
        print_summary(results)
    run_dirs = [r.run_dir for r in results if r.run_dir is not None]
    if run_dirs:
        print(f"\nTensorBoard logs in {run_dirs[0].parent}  (tensorboard --logdir "
              f"{quoted(run_dirs[0].parent)})")
    if len(run_dirs) == 1:
        best = " and best.pt" if (run_dirs[0] / BEST).exists() else ""
        print(f"checkpoints {LAST}{best} in {run_dirs[0]}  (mnist-mlp-evaluate "
              f"{quoted(run_dirs[0])})")
    elif run_dirs:
        best = f" and {BEST}" if (run_dirs[0] / BEST).exists() else ""
        print(f"checkpoints {LAST}{best} in each run folder  (mnist-mlp-evaluate "
              f"{quoted(run_dirs[0].parent)}/<run>)")
