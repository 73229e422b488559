"""``mnist-mlp-merge FOLDER``: the summary of a sweep run in shards (``--shard I/N``), once all
N shard files are in FOLDER — a train command's sweep (its summary printed) or the reproduction
(its report written into FOLDER). A network that diverged is counted as the unsharded sweep
counts it; a shard missing, twice, of another sweep, damaged or hostile is refused in one line
naming it (``mnist_mlp.training.parallel``)."""

from __future__ import annotations

from collections.abc import Sequence

from ..experiments.report import save, table
from ..experiments.results import combine
from ..files import FOLDER, examine
from ..training.parallel import TRAIN, ShardError, merge, network_ids
from ..training.records import TrainResult
from .common import one_line_errors
from .options import merge_parser
from .reproduce import REPRODUCTION, reproduction_parts
from .train import print_results


@one_line_errors
def main(argv: Sequence[str] | None = None) -> int:
    args = merge_parser().parse_args(argv)
    examine(args.folder, "the shards' folder", "give the folder the --shard runs wrote their "
            "files to", FOLDER, ShardError)
    kind, grid, items, extras = merge(args.folder, {"train": TRAIN,
                                                    "reproduction": REPRODUCTION})
    if kind is REPRODUCTION:
        parts = reproduction_parts(args.folder, extras)
        whole = combine(parts, max(part.wall_seconds for part in parts))
        paths = save(whole, args.folder)
        print(table(whole))
        print(f"\nmerged {len(parts)} shards; wrote {', '.join(str(p) for p in paths.values())}")
        return 0
    by_id = {item["id"]: item for item in items}
    print_results([TrainResult.from_dict(by_id[i]) for i in network_ids(grid)])
    return 0
