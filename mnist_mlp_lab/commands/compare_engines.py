"""``scripts/compare_engines.py``: the fast engine against the reference loop over seeds.

    python scripts/reproduce.py --only l30-cross_entropy                   # fast engine
    python scripts/reproduce.py --only l30-cross_entropy --engine reference \\
        --out results/reference-loop
    python scripts/compare_engines.py results/reproduction.json \\
        results/reference-loop/reproduction.json --out results/engines.md

Prints (and with ``--out`` writes) a table of the final test accuracy under each engine and
their paired differences, seed by seed. The work is done by
``mnist_mlp_lab.agreement``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mnist_mlp.cli import command_parser, one_line_errors
from mnist_mlp.files import write_atomically

from ..agreement import compare, markdown
from ..results import load


def parser() -> argparse.ArgumentParser:
    p = command_parser(__doc__.split("\n")[0])
    p.add_argument("fast", type=Path, help="reproduction.json of the fast engine")
    p.add_argument("reference", type=Path, help="reproduction.json of the reference loop")
    p.add_argument("--out", type=Path, help="also write the table (Markdown) here")
    return p


@one_line_errors  # user errors: one line, exit 2
def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        comparisons = compare(load(args.fast), load(args.reference))
    except OSError as error:
        print(f"error: cannot read {error.filename}: {error.strerror}", file=sys.stderr)
        return 2
    if not comparisons:
        print("error: the two reproductions have no configuration in common", file=sys.stderr)
        return 2
    text = markdown(comparisons)
    if args.out:
        try:
            write_atomically(args.out, lambda file: file.write((text + "\n").encode()))
        except OSError as error:
            print(f"error: cannot write {args.out}: {error.strerror}", file=sys.stderr)
            return 2
    print(text)
    return 0

