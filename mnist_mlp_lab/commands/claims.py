"""``scripts/claims.py``: every statement of the chapter, measured or tested, in one table.

Writes ``OUT/claims.md`` (the table: statement, code, test, figure, verdict; how each verdict is
computed; the errata), ``OUT/claims.json`` (every number) and one ``OUT/claims_<name>.png`` per
figure; ``--quick`` writes ``OUT/claims-quick.*`` instead. The work is done by
``mnist_mlp_lab.claims`` (measuring) and ``mnist_mlp_lab.claims_report``
(table, figures, files).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mnist_mlp.cli import command_parser, one_line_errors, positive_int
from mnist_mlp.files import check_writable

from ..claims import QUICK, ClaimSettings, load, quick_settings, run_claims
from ..claims_report import save
from .reproduce import cannot, command_line


def parser() -> argparse.ArgumentParser:
    d = ClaimSettings()
    p = command_parser(
        "The chapter, claim by claim: every statement it makes, measured or tested, each "
        "verdict computed by a stated rule — sweeps of the learning rate, the hidden layer, the "
        "mini-batch size and the recipe's choices, L1 against L2, the backward-engineered "
        "cross-entropy, unbalanced data, what the reproduction says, and the chapter's errata.")
    p.add_argument("--seeds", type=positive_int, default=None,
                   help=f"networks per swept value (default: {d.seeds}; {QUICK['seeds']} with "
                        "--quick)")
    p.add_argument("--epochs", type=positive_int, default=None,
                   help=f"epochs (default: {d.epochs}; {QUICK['epochs']} with --quick)")
    p.add_argument("--quick", action="store_true",
                   help=f"a small version for CI: {QUICK['seeds']} seeds, {QUICK['epochs']} "
                        f"epochs, the first {QUICK['train_size']:,} training images, "
                        f"{QUICK['updates']} updates; writes claims-quick.*")
    p.add_argument("--data-dir", default=None,
                   help="folder holding MNIST/raw/ (default: $MNIST_DATA, else ./data)")
    p.add_argument("--device", default=d.device, help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--reproduction", default=d.reproduction,
                   help=f"the reproduction whose stalled runs show the slowdown in a network "
                        f"(default: {d.reproduction})")
    p.add_argument("--out", type=Path, default=Path("results"),
                   help="folder for claims.md, .json and the figures (default: results)")
    p.add_argument("--from-json", type=Path, metavar="PATH",
                   help="measure nothing: render the .md, .json and figures again from an "
                        "earlier claims.json (into --out)")
    return p


@one_line_errors  # user errors: one line, exit 2; Ctrl-C: exit 130
def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    given = {k: v for k, v in (("seeds", args.seeds), ("epochs", args.epochs)) if v is not None}
    settings = (quick_settings if args.quick else ClaimSettings)(
        **given, data_dir=args.data_dir, device=args.device, reproduction=args.reproduction)
    check_writable(args.out, "the claims", "choose another folder with --out")
    if args.from_json:
        try:
            claims = load(args.from_json)  # a malformed file: ValueError, one line
        except OSError as e:
            return cannot(f"read {args.from_json}", e)
    else:
        claims = run_claims(settings, lambda line: print(line, flush=True), command_line(argv))
    try:
        paths = save(claims, args.out)
    except OSError as e:
        return cannot(f"write to {args.out}", e)
    print(f"total wall time {claims.wall_seconds:.0f} s; wrote {paths['md']}, {paths['json']} "
          f"and {len(paths) - 2} figures")
    return 0
