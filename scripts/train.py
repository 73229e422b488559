"""Train the textbook 784-l-10 network on MNIST: ``python scripts/train.py --help``."""

from mnist_mlp.cli import run

if __name__ == "__main__":
    raise SystemExit(run("train"))
