"""The options of the lab's commands, in a module that loads no torch: ``commands.run`` parses
the command line with these parsers before it imports the command (and torch), so that
``--help``, ``--version`` and a mistyped option answer at once. Each command's module uses its
parser as ``parser``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from mnist_mlp.cli import command_parser, positive_float, positive_int, shard_option

from ..claim_settings import QUICK as CLAIMS_QUICK
from ..claim_settings import ClaimSettings
from ..configurations import ENGINES, NAMES, QUICK, Settings


def _runs(p: argparse.ArgumentParser, networks: str, seeds: int, epochs: int,
          quick: dict[str, int]) -> None:
    """``--seeds`` (``networks``: what N counts) and ``--epochs``: defaults of their own, and
    ``quick``'s with ``--quick``."""
    p.add_argument("--seeds", type=positive_int, default=None,
                   help=f"{networks} (default: {seeds}; {quick['seeds']} with --quick)")
    p.add_argument("--epochs", type=positive_int, default=None,
                   help=f"epochs (default: {epochs}; {quick['epochs']} with --quick)")


def _data_and_device(p: argparse.ArgumentParser, device: str) -> None:
    p.add_argument("--data-dir", default=None,
                   help="folder holding MNIST/raw/ (default: $MNIST_DATA, else ./data)")
    p.add_argument("--device", default=device, help="auto, cpu, cuda, cuda:N or mps")


def reproduce_parser() -> argparse.ArgumentParser:
    d = Settings()
    p = command_parser("Reproduce the textbook's MNIST figures over seeds: final, best and "
                       "validation-chosen test accuracy, stalled runs and why they stall.")
    _runs(p, "networks per configuration, seeds 0…N−1", d.seeds, d.epochs, QUICK)
    p.add_argument("--train-size", type=positive_int, default=None,
                   help="train on the first N training images only (default: all 50,000)")
    p.add_argument("--validation-size", type=positive_int, default=None,
                   help=f"the last N training images held out (default: {d.validation_size:,})")
    p.add_argument("--only", nargs="+", choices=NAMES, metavar="NAME",
                   help=f"run only these configurations: {', '.join(NAMES)} (default: all)")
    p.add_argument("--quick", action="store_true",
                   help=f"a small version, a smoke test: {QUICK['seeds']} "
                        f"seeds, {QUICK['epochs']} epochs, the first {QUICK['train_size']:,} "
                        "training images; writes reproduction-quick.*")
    p.add_argument("--engine", choices=ENGINES, default=d.engine,
                   help="fast: all seeds of a configuration at once (train_many); "
                        "reference: the readable loop, one network at a time")
    _data_and_device(p, d.device)
    p.add_argument("--out", type=Path, default=Path("results"),
                   help="folder for reproduction.md, .json and .png (default: results)")
    p.add_argument("--log-dir", default=d.log_dir,
                   help=f"TensorBoard runs, one folder per configuration (default: {d.log_dir}; "
                        "'' for none)")
    p.add_argument("--shard", type=shard_option, metavar="I/N",
                   help="train only shard I of N (a share of every configuration's seeds; e.g. "
                        "one task of a job array) and write it to OUT/shard-I-of-N.json; "
                        "--merge OUT then writes the report (default: under a Slurm job "
                        "array, the task's shard; else all of it)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    train_nothing = p.add_mutually_exclusive_group()
    train_nothing.add_argument(
        "--from-json", type=Path, metavar="PATH",
        help="train nothing: render the .md, .json and .png again from an earlier "
             "reproduction.json (into --out)")
    train_nothing.add_argument(
        "--merge", type=Path, metavar="FOLDER",
        help="train nothing: merge the shard files of a reproduction run in shards (--shard "
             "I/N, all N of them in FOLDER) into the one report, written into FOLDER")
    return p


def claims_parser() -> argparse.ArgumentParser:
    d = ClaimSettings()
    p = command_parser(
        "The chapter, claim by claim: every statement it makes, measured or tested, each "
        "verdict computed by a stated rule — sweeps of the learning rate, the hidden layer, the "
        "mini-batch size and the recipe's choices, L1 against L2, the backward-engineered "
        "cross-entropy, unbalanced data, what the reproduction says, and the chapter's errata.")
    _runs(p, "networks per swept value", d.seeds, d.epochs, CLAIMS_QUICK)
    p.add_argument("--quick", action="store_true",
                   help=f"a small version for CI: {CLAIMS_QUICK['seeds']} seeds, "
                        f"{CLAIMS_QUICK['epochs']} epochs, the first "
                        f"{CLAIMS_QUICK['train_size']:,} training images, "
                        f"{CLAIMS_QUICK['updates']} updates; writes claims-quick.*")
    _data_and_device(p, d.device)
    p.add_argument("--reproduction",
                   help=f"the reproduction whose stalled runs show the slowdown in a network "
                        f"(default: {d.reproduction}; with --from-json: the one saved in it, "
                        "unless given)")
    p.add_argument("--out", type=Path, default=Path("results"),
                   help="folder for claims.md, .json and the figures (default: results)")
    p.add_argument("--from-json", type=Path, metavar="PATH",
                   help="measure nothing: render the .md, .json and figures again from an "
                        "earlier claims.json (into --out)")
    return p


def compare_engines_parser() -> argparse.ArgumentParser:
    p = command_parser("The fast engine against the reference loop over seeds: the final test "
                       "accuracy under each engine and their paired differences, seed by "
                       "seed.")
    p.add_argument("fast", type=Path, help="reproduction.json of the fast engine")
    p.add_argument("reference", type=Path, help="reproduction.json of the reference loop")
    p.add_argument("--out", type=Path, help="also write the table (Markdown) here")
    return p


def bench_parser() -> argparse.ArgumentParser:
    p = command_parser("Time one training epoch of the naive user loop, the reference "
                       "trainer and the fused engine.")
    p.add_argument("--data-dir", help="folder holding MNIST/raw/ (default: $MNIST_DATA)")
    p.add_argument("--hidden", type=positive_int, nargs="+", default=[30, 100],
                   help="hidden sizes l to time")
    p.add_argument("--networks", type=positive_int, nargs="+", default=[1, 10, 100],
                   help="K values for the engine")
    p.add_argument("--device", nargs="+", default=None,
                   help="devices to time (default: cpu, and cuda when present)")
    p.add_argument("--warmup", type=positive_int, default=2000,
                   help="images in the untimed warm-up epoch")
    p.add_argument("--repeat", type=positive_int, default=3,
                   help="epochs timed in a row for each measurement; the fastest counts")
    p.add_argument("--json", type=Path, help="also write the timings here, and the report as "
                                             "Markdown beside it (.md)")
    p.add_argument("--from-json", type=Path, metavar="PATH",
                   help="measure nothing: print the report of an earlier --json run (and "
                        "write its .md beside it)")
    p.add_argument("--costs", action="store_true",
                   help="also measure what a sweep costs besides training: evaluation per "
                        "network, peak memory for K = 1, 100 and 1000 networks (l = 30), and "
                        "the reproduction's wall time against its training time (it runs the "
                        "whole reproduction); on the first device of --device")
    return p


def slowdown_parser() -> argparse.ArgumentParser:
    p = command_parser("The learning slowdown of one sigmoid neuron: quadratic cost against "
                       "cross-entropy, from a saturated and an unsaturated start (Nielsen "
                       "ch. 3).")
    p.add_argument("--epochs", type=positive_int, default=300, help="gradient-descent steps")
    p.add_argument("--lr", type=positive_float, default=0.15, help="learning rate η")
    p.add_argument("--out", type=Path, default=Path("results"),
                   help="folder for slowdown.png and slowdown.json")
    p.add_argument("--quiet", action="store_true", help="print nothing")
    return p


PARSERS: dict[str, Callable[[], argparse.ArgumentParser]] = {
    "bench": bench_parser, "claims": claims_parser, "compare_engines": compare_engines_parser,
    "reproduce": reproduce_parser, "slowdown": slowdown_parser}
"""The parser of each of the lab's commands (``commands.COMMANDS``)."""
