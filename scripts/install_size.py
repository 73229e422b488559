"""The disk space each install of README takes: a fresh virtual environment per install line,
built with that line's pip commands, measured with all it holds (as ``du``: blocks on disk).

    python scripts/install_size.py --out results/install.md

Each environment is made in a temporary folder and removed afterwards; the report names the
commands, the torch each got (and its CUDA, if any), the size, and the machine. It installs this
checkout (``pip install -e .``) from whatever sources pip is configured with; it imports nothing
from the package.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cpu-index", default=CPU_INDEX,
                   help="the index of PyTorch's CPU-only wheels, '' for pip's own sources "
                        "(default: %(default)s)")
    p.add_argument("--cpu-torch", default="torch torchvision",
                   help="what the CPU-only line installs from --cpu-index, before the package "
                        "(default: %(default)s)")
    p.add_argument("--out", type=Path, default=None,
                   help="also write the report here, as Markdown (default: print it only)")
    return p


def installs(args: argparse.Namespace) -> dict[str, list[list[str]]]:
    """Each install line as the pip commands it runs (arguments after ``pip install``)."""
    index = ["--index-url", args.cpu_index] if args.cpu_index else []
    return {"default": [["-e", "."]],
            "CPU-only": [[*shlex.split(args.cpu_torch), *index], ["-e", "."]]}


def disk_usage(folder: Path) -> int:
    """Bytes on disk of everything under ``folder``, each file once (as ``du``)."""
    seen, total = set(), 0
    for path in [folder, *folder.rglob("*")]:
        info = path.lstat()
        if (info.st_dev, info.st_ino) not in seen:
            seen.add((info.st_dev, info.st_ino))
            total += info.st_blocks * 512
    return total


def measure(commands: list[list[str]]) -> tuple[int, str]:
    """Build a fresh environment with ``commands``: its size and the torch it holds."""
    with tempfile.TemporaryDirectory(prefix="mnist-mlp-install-") as folder:
        venv = Path(folder) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        for command in commands:
            subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *command], check=True,
                           cwd=ROOT)
        torch = subprocess.run(
            [str(venv / "bin" / "python"), "-c",
             "import torch; print(torch.__version__, 'CUDA ' + (torch.version.cuda or 'none'))"],
            check=True, capture_output=True, text=True).stdout.strip()
        return disk_usage(venv), torch


def report(args: argparse.Namespace, sizes: dict[str, tuple[int, str]]) -> str:
    lines = ["| install | pip commands after `python3 -m venv .venv` | torch | size |",
             "| --- | --- | --- | --- |"]
    for name, commands in installs(args).items():
        size, torch = sizes[name]
        pip = " && ".join(f"`pip install {shlex.join(c)}`" for c in commands)
        lines.append(f"| {name} | {pip} | {torch} | {size / 1e9:.1f} GB |")
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    lines += ["", f"Measured {when} by `python scripts/install_size.py` on {platform.system()} "
              f"{platform.machine()}, Python {platform.python_version()}; sizes as `du` "
              "counts them (GB = 10⁹ bytes), the whole virtual environment."]
    return "\n".join(lines) + "\n"


def main() -> int:
    args = parser().parse_args()
    try:
        sizes = {name: measure(commands) for name, commands in installs(args).items()}
    except subprocess.CalledProcessError as error:
        print(f"error: {shlex.join(error.cmd)} failed with status {error.returncode} (its "
              "output is above); nothing was written", file=sys.stderr)
        return 2
    text = report(args, sizes)
    print(text, end="")
    if args.out is not None:
        temporary = args.out.with_name(args.out.name + ".tmp")
        temporary.write_text(text)
        os.replace(temporary, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
