"""Merge the shards of a sweep: ``python scripts/merge.py FOLDER``."""

from mnist_mlp.cli import run

if __name__ == "__main__":
    raise SystemExit(run("merge"))
