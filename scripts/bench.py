"""Benchmark one training epoch of each trainer: ``python scripts/bench.py --help``."""

from mnist_mlp_lab.commands import run

if __name__ == "__main__":
    raise SystemExit(run("bench"))
