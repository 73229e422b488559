"""``mnist-mlp-merge FOLDER``: the summary of a train command's sweep run in shards
(``--shard I/N``), once all N shard files are in FOLDER; what it refuses: docs/commands.md."""

from __future__ import annotations

from collections.abc import Sequence

from ..files import FOLDER, examine
from ..training.parallel import TRAIN, ShardError, merge_shards, network_ids
from ..training.records import TrainResult
from .common import one_line_errors, quoted
from .options import merge_parser
from .train import print_results

MERGED_ELSEWHERE = {"reproduction": "python scripts/reproduce.py --merge"}
"""The shards of other commands, by kind, and the command that merges them (given the folder)."""


@one_line_errors
def main(argv: Sequence[str] | None = None) -> int:
    args = merge_parser().parse_args(argv)
    examine(args.folder, "the shards' folder", "give the folder the --shard runs wrote their "
            "files to", FOLDER, ShardError)
    elsewhere = {kind: f"{command} {quoted(args.folder)}"
                 for kind, command in MERGED_ELSEWHERE.items()}
    _, grid, items, _ = merge_shards(args.folder, {"train": TRAIN}, elsewhere)
    by_id = {item["id"]: item for item in items}
    print_results([TrainResult.from_dict(by_id[i]) for i in network_ids(grid)])
    return 0
