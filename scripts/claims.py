"""Every statement of the chapter, measured: ``python scripts/claims.py --help``."""

from mnist_mlp_lab.commands import run

if __name__ == "__main__":
    raise SystemExit(run("claims"))
