"""Benchmark one training epoch of each trainer: ``python scripts/bench.py --help``."""

from mnist_mlp.cli.bench import main

if __name__ == "__main__":
    raise SystemExit(main())
