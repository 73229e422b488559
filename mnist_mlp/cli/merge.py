"""``mnist-mlp-merge FOLDER``: the summary of a sweep run in shards (``--shard I/N``), once all
N shard files are in FOLDER — a train command's sweep (its summary printed) or the reproduction
(its report written into FOLDER); a shard missing, twice, or of another sweep is refused."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from ..experiments.report import save, table
from ..experiments.results import combine, from_dict
from ..files import FOLDER, examine
from ..training.shards import NAME, ShardError, merge, result_from_dict
from .common import OneLineParser, one_line_errors
from .parallel import network_ids
from .reproduce import reproduction_ids
from .train import print_results


def merge_parser() -> argparse.ArgumentParser:
    p = OneLineParser(description="Merge the shards of a sweep (mnist-mlp-train --engine fast "
                                  "--shard I/N) and print its summary.")
    p.add_argument("folder", type=Path, help="the folder the shards wrote shard-I-of-N.json to "
                                             "(their --log-dir)")
    return p


def kind_of(folder: Path) -> str:
    """What the shards in ``folder`` are of ("train"), from the first shard file."""
    for path in sorted(folder.glob("shard-*-of-*.json")):
        if NAME.fullmatch(path.name):
            try:
                return json.loads(path.read_text())["kind"]
            except (OSError, ValueError, KeyError, TypeError):
                break
    raise ShardError(f"no readable shard files (shard-I-of-N.json) in {folder}; give the "
                     "folder the --shard runs wrote them to")


@one_line_errors
def main(argv: Sequence[str] | None = None) -> int:
    args = merge_parser().parse_args(argv)
    examine(args.folder, "the shards' folder", "give the folder the --shard runs wrote their "
            "files to", FOLDER, ShardError)
    kind = kind_of(args.folder)
    if kind == "reproduction":
        _, _, extras = merge(args.folder, "reproduction", reproduction_ids)
        parts = [from_dict(extra) for extra in extras]
        whole = combine(parts, max(part.wall_seconds for part in parts))
        paths = save(whole, args.folder)
        print(table(whole))
        print(f"\nmerged {len(parts)} shards; wrote {', '.join(str(p) for p in paths.values())}")
        return 0
    if kind != "train":
        raise ShardError(f"the shards in {args.folder} are of a {kind} sweep, which "
                         "mnist-mlp-merge does not know")
    sweep, items, _ = merge(args.folder, "train", network_ids)
    by_id = {item["id"]: item for item in items}
    print_results([result_from_dict(by_id[i]) for i in network_ids(sweep)])
    return 0
