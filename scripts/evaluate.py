"""Evaluate a checkpoint on the MNIST test set: ``python scripts/evaluate.py runs/<name>``."""

from mnist_mlp.cli import run

if __name__ == "__main__":
    raise SystemExit(run("evaluate"))
