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

import sys
from collections.abc import Sequence

from mnist_mlp.cli import one_line_errors
from mnist_mlp.files import write_atomically

from ..agreement import compare, markdown
from ..results import load
from .options import compare_engines_parser as parser


@one_line_errors  # user errors: one line, exit 2
def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    comparisons = compare(load(args.fast), load(args.reference))  # a bad file: one line
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

