"""Command lines: argument parsing and printing only; the work is done by the package."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import fields, replace

from .activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from .data import DataError
from .engine import train_many
from .losses import LOSSES
from .metrics import format_report
from .model import INITS
from .runs import LogDirError
from .stats import spread, summarize
from .train import DivergenceError, TrainConfig, TrainResult, train

USER_ERRORS = (DataError, LogDirError, DivergenceError, ValueError)


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
    p = argparse.ArgumentParser(
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
    p.add_argument("--log-dir", default=d.log_dir, help="TensorBoard runs folder")
    return p


def print_epoch(record: dict[str, float]) -> None:
    validation = (f"  validation {100 * record['validation_accuracy']:6.2f}%"
                  if "validation_accuracy" in record else "")
    print(f"epoch {record['epoch']:3d}  train loss {record['train_loss']:.4f}{validation}"
          f"  test {100 * record['test_accuracy']:6.2f}%  ({record['seconds']:.1f} s)",
          flush=True)


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


def train_main(argv: Sequence[str] | None = None) -> int:
    """``mnist-mlp-train``: train, print one line per epoch and the final metrics."""
    args = train_parser().parse_args(argv)
    names = {f.name for f in fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in vars(args).items() if k in names} | {
        "lr": args.lr[0]})
    seeds = list(range(args.seed, args.seed + args.seeds))
    try:
        if args.engine == "fast":
            results = train_many(config, seeds, args.lr, on_epoch=print_epoch_of_many
                                 if len(seeds) * len(args.lr) > 1 else
                                 lambda _, records: print_epoch(records[0]))
        else:
            results = []
            for lr in args.lr:
                for seed in seeds:
                    if len(seeds) * len(args.lr) > 1:
                        print(f"--- lr {lr:g}, seed {seed}", flush=True)
                    results.append(train(replace(config, lr=lr, seed=seed),
                                         on_epoch=print_epoch))
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if len(results) == 1:
        print()
        print(format_report(results[0].metrics))
    else:
        print_summary(results)
    run_dirs = [r.run_dir for r in results if r.run_dir is not None]
    if run_dirs:
        print(f"\nTensorBoard logs in {run_dirs[0].parent}  (tensorboard --logdir "
              f"{config.log_dir})")
    return 0
