"""Evaluate a checkpoint on the MNIST test set: ``python scripts/evaluate.py runs/<name>``."""

from mnist_mlp.cli.evaluate import main

if __name__ == "__main__":
    raise SystemExit(main())
