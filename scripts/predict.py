"""Read the digit in image files: ``python scripts/predict.py runs/<name> digit.png``."""

from mnist_mlp.cli.predict import main

if __name__ == "__main__":
    raise SystemExit(main())
