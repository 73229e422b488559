"""A page to draw digits on, read by a trained network: ``python scripts/demo.py runs/<name>``."""

from mnist_mlp_demo import main

if __name__ == "__main__":
    raise SystemExit(main())
