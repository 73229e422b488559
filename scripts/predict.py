"""Read the digit in image files: ``python scripts/predict.py runs/<name> digit.png``."""

from mnist_mlp.cli import run

if __name__ == "__main__":
    raise SystemExit(run("predict"))
