"""The fast engine against the reference loop: ``python scripts/compare_engines.py --help``."""

from mnist_mlp.cli.compare_engines import main

if __name__ == "__main__":
    raise SystemExit(main())
