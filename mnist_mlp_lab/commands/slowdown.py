"""``scripts/slowdown.py``: the learning slowdown of one sigmoid neuron, plotted and tabled.

Writes ``OUT/slowdown.png`` (cost and ∂C/∂w against epoch) and ``OUT/slowdown.json`` (the four
runs), and prints a short table; the work is done by ``mnist_mlp_lab.slowdown``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from mnist_mlp.cli import one_line_errors

from ..slowdown import run_all, save, table
from .options import slowdown_parser as parser


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

