"""``scripts/slowdown.py``: the learning slowdown of one sigmoid neuron, plotted and tabled.

Writes ``OUT/slowdown.png`` (cost and ∂C/∂w against epoch) and ``OUT/slowdown.json`` (the four
runs), and prints a short table; the work is done by ``mnist_mlp_lab.slowdown``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mnist_mlp.cli import command_parser, one_line_errors, positive_float, positive_int

from ..slowdown import run_all, save, table


def parser() -> argparse.ArgumentParser:
    p = command_parser("The learning slowdown of one sigmoid neuron: quadratic cost against "
                       "cross-entropy, from a saturated and an unsaturated start (Nielsen "
                       "ch. 3).")
    p.add_argument("--epochs", type=positive_int, default=300, help="gradient-descent steps")
    p.add_argument("--lr", type=positive_float, default=0.15, help="learning rate η")
    p.add_argument("--out", type=Path, default=Path("results"),
                   help="folder for slowdown.png and slowdown.json")
    p.add_argument("--quiet", action="store_true", help="print nothing")
    return p


@one_line_errors
def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    runs = run_all(args.epochs, args.lr)
    try:
        png, js = save(runs, args.out)
    except OSError as e:
        print(f"error: cannot write to {args.out}: {e.strerror or e}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(table(runs))
        print(f"wrote {png} and {js}")
    return 0

