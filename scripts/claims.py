"""The chapter, claim by claim: ``python scripts/claims.py --help``."""

from mnist_mlp.cli.claims import main

if __name__ == "__main__":
    raise SystemExit(main())
