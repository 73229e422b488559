"""Train the textbook 784-l-10 network on MNIST: ``python scripts/train.py --help``."""

from mnist_mlp.cli.train import main

if __name__ == "__main__":
    raise SystemExit(main())
