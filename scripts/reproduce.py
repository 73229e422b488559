"""Reproduce the textbook's MNIST figures over seeds: ``python scripts/reproduce.py --help``."""

from mnist_mlp_lab.commands import run

if __name__ == "__main__":
    raise SystemExit(run("reproduce"))
