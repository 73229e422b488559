"""``scripts/bench.py``: one training epoch of the naive user loop, the reference trainer and the
fused engine, timed.

    python scripts/bench.py [--hidden 30 100] [--networks 1 10 100] [--json results/bench.json]

Not a test: it prints a table of seconds per epoch, images/s and the ratio to the naive loop,
measured now on this machine (named in the output), and the time of each phase of a step of
the reference loop (load, forward, loss, backward, update).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from ..engine import native
from ..experiments.benchmark import as_json, phase_table, run_benchmark, run_phases, table
from ..experiments.machine import machine
from ..files import write_json
from .common import one_line_errors, positive_int


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Time one training epoch of the naive user loop, "
                                            "the reference trainer and the fused engine.")
    p.add_argument("--data-dir", help="folder holding MNIST/raw/ (default: $MNIST_DATA)")
    p.add_argument("--hidden", type=positive_int, nargs="+", default=[30, 100])
    p.add_argument("--networks", type=positive_int, nargs="+", default=[1, 10, 100],
                   help="K values for the engine")
    p.add_argument("--device", nargs="+", default=None,
                   help="devices to time (default: cpu, and cuda when present)")
    p.add_argument("--warmup", type=positive_int, default=2000,
                   help="images in the untimed warm-up epoch")
    p.add_argument("--json", type=Path, help="also write the timings here")
    return p


@one_line_errors
def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    devices = args.device or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print("machine:", ", ".join(f"{k} {v}" for k, v in machine().items()), flush=True)
    print("native loop:", native.describe(), flush=True)
    timings = run_benchmark(args.data_dir, args.hidden, args.networks, devices, args.warmup,
                            report=lambda t: print(f"  {t.device} l={t.hidden_size} "
                                                   f"{t.method} K={t.networks}: "
                                                   f"{t.seconds:.3f} s", flush=True))
    phases = run_phases(args.data_dir, args.hidden)
    if args.json:
        try:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            write_json(args.json, as_json(timings, phases))
        except OSError as error:
            print(f"error: cannot write {args.json}: {error.strerror or error}", file=sys.stderr)
            return 2
    print()
    print(table(timings))
    print("\nWhere a step of the reference loop spends its time (µs per mini-batch, CPU):\n")
    print(phase_table(phases))
    return 0
