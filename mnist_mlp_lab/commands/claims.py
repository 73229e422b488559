"""``scripts/claims.py``: every statement of the chapter, measured or tested, in one table.

Writes ``OUT/claims.md`` (the table: statement, code, test, figure, verdict; how each verdict is
computed; the errata), ``OUT/claims.json`` (every number) and one ``OUT/claims_<name>.png`` per
figure; ``--quick`` writes ``OUT/claims-quick.*`` instead. The work is done by
``mnist_mlp_lab.claims`` (measuring) and ``mnist_mlp_lab.claims_report``
(table, figures, files).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace

from mnist_mlp.cli import one_line_errors
from mnist_mlp.files import check_writable

from ..claim_settings import ClaimSettings, quick_settings
from ..claims import load, reproduction_link, run_claims
from ..claims_report import save
from .options import claims_parser as parser
from .reproduce import cannot, command_line


@one_line_errors  # user errors: one line, exit 2; Ctrl-C: exit 130
def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    given = {k: v for k, v in (("seeds", args.seeds), ("epochs", args.epochs)) if v is not None}
    settings = (quick_settings if args.quick else ClaimSettings)(
        **given, data_dir=args.data_dir, device=args.device,
        **({} if args.reproduction is None else {"reproduction": args.reproduction}))
    check_writable(args.out, "the claims", "choose another folder with --out")
    if args.from_json:
        claims = load(args.from_json)  # a bad file (missing, a FIFO, malformed): one line
        if args.reproduction is not None:  # its stalls judged again, by today's rule
            claims = replace(claims, reproduction=reproduction_link(args.reproduction))
    else:
        claims = run_claims(settings, lambda line: print(line, flush=True), command_line(argv))
    try:
        paths = save(claims, args.out)
    except OSError as e:
        return cannot(f"write to {args.out}", e)
    print(f"total wall time {claims.wall_seconds:.0f} s; wrote {paths['md']}, {paths['json']} "
          f"and {len(paths) - 2} figures")
    return 0
