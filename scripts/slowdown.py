"""The learning slowdown of one sigmoid neuron: ``python scripts/slowdown.py --help``."""

from mnist_mlp.cli.slowdown import main

if __name__ == "__main__":
    raise SystemExit(main())
