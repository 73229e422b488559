"""Benchmark one training epoch: the naive user loop, the reference trainer, the fused engine.

    python scripts/bench.py [--hidden 30 100] [--networks 1 10 100] [--json results/bench.json]

Not a test: it prints a table of seconds per epoch, images/s and the ratio to the naive loop,
measured now on this machine (named in the output), and the time of each phase of a step of
the reference loop (load, forward, loss, backward, update).
"""

import argparse
import sys
from pathlib import Path

import torch

from mnist_mlp import native
from mnist_mlp.benchmark import as_json, phase_table, run_benchmark, run_phases, table
from mnist_mlp.cli import USER_ERRORS, positive_int
from mnist_mlp.files import write_json
from mnist_mlp.machine import machine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="folder holding MNIST/raw/ (default: $MNIST_DATA)")
    parser.add_argument("--hidden", type=positive_int, nargs="+", default=[30, 100])
    parser.add_argument("--networks", type=positive_int, nargs="+", default=[1, 10, 100],
                        help="K values for the engine")
    parser.add_argument("--device", nargs="+", default=None,
                        help="devices to time (default: cpu, and cuda when present)")
    parser.add_argument("--warmup", type=positive_int, default=2000,
                        help="images in the untimed warm-up epoch")
    parser.add_argument("--json", type=Path, help="also write the timings here")
    args = parser.parse_args()
    devices = args.device or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print("machine:", ", ".join(f"{k} {v}" for k, v in machine().items()), flush=True)
    print("native loop:", native.describe(), flush=True)
    try:
        timings = run_benchmark(args.data_dir, args.hidden, args.networks, devices, args.warmup,
                                report=lambda t: print(f"  {t.device} l={t.hidden_size} "
                                                       f"{t.method} K={t.networks}: "
                                                       f"{t.seconds:.3f} s", flush=True))
        phases = run_phases(args.data_dir, args.hidden)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            write_json(args.json, as_json(timings, phases))
    except (*USER_ERRORS, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print()
    print(table(timings))
    print("\nWhere a step of the reference loop spends its time (µs per mini-batch, CPU):\n")
    print(phase_table(phases))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
