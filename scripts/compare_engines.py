"""The fast engine against the reference loop: ``python scripts/compare_engines.py --help``."""

from mnist_mlp_lab.commands import run

if __name__ == "__main__":
    raise SystemExit(run("compare_engines"))
