"""The learning slowdown of one sigmoid neuron: ``python scripts/slowdown.py --help``."""

from mnist_mlp_lab.commands import run

if __name__ == "__main__":
    raise SystemExit(run("slowdown"))
